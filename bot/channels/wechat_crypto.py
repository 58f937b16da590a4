"""WeChat Official Account message security: request signatures and the "safe mode" AES.

Plaintext mode signs only the query: signature = sha1(sorted(token, timestamp, nonce)).
It does not cover the body, so plaintext mode trusts anyone who holds a recent signed
URL; the timestamp window limits that. Safe mode adds msg_signature =
sha1(sorted(token, timestamp, nonce, Encrypt)), which covers the encrypted body.

Safe-mode ciphertext (WeChat's WXBizMsgCrypt scheme): the key is base64(EncodingAESKey +
"="), 32 bytes; AES-256-CBC with IV = key[:16]; the plaintext is 16 random bytes + the
message length (4 bytes, big-endian) + the message + the AppID, padded PKCS#7-style to a
multiple of 32 bytes (not AES's 16).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PAD_BLOCK = 32


class CryptoError(Exception):
    """A safe-mode message that cannot be decrypted or was meant for another AppID."""


def sign(*parts: str) -> str:
    """WeChat's signature: sha1 over the parts sorted and concatenated, as hex."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def signature_ok(expected_parts: tuple[str, ...], signature: str) -> bool:
    return hmac.compare_digest(sign(*expected_parts), signature.lower())


def aes_key(encoding_aes_key: str) -> bytes:
    key = base64.b64decode(encoding_aes_key + "=")
    if len(key) != 32:
        raise ValueError("EncodingAESKey must decode to 32 bytes")
    return key


def pad(data: bytes) -> bytes:
    amount = PAD_BLOCK - len(data) % PAD_BLOCK
    return data + bytes([amount]) * amount


def unpad(data: bytes) -> bytes:
    if not data:
        raise CryptoError("empty plaintext")
    amount = data[-1]
    if not 1 <= amount <= PAD_BLOCK or data[-amount:] != bytes([amount]) * amount:
        raise CryptoError("bad padding")
    return data[:-amount]


class MessageCrypto:
    """Encrypts and decrypts safe-mode messages for one account."""

    def __init__(self, token: str, encoding_aes_key: str, appid: str) -> None:
        self.token = token
        self.key = aes_key(encoding_aes_key)
        self.appid = appid

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def msg_signature(self, timestamp: str, nonce: str, encrypted: str) -> str:
        return sign(self.token, timestamp, nonce, encrypted)

    def encrypt(self, message: str, random16: bytes | None = None) -> str:
        body = message.encode()
        plain = (random16 or os.urandom(16)) + struct.pack(">I", len(body)) + body
        plain += self.appid.encode()
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(pad(plain)) + encryptor.finalize()).decode()

    def decrypt(self, encrypted: str) -> str:
        """The message inside `encrypted`; CryptoError if it is damaged or not for our AppID."""
        try:
            data = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CryptoError("not base64") from exc
        if not data or len(data) % 16:
            raise CryptoError("ciphertext length is not a multiple of the AES block")
        decryptor = self._cipher().decryptor()
        plain = unpad(decryptor.update(data) + decryptor.finalize())
        if len(plain) < 20:
            raise CryptoError("plaintext too short")
        (length,) = struct.unpack(">I", plain[16:20])
        message, appid = plain[20 : 20 + length], plain[20 + length :]
        if len(message) != length:
            raise CryptoError("message length field is wrong")
        if appid.decode(errors="replace") != self.appid:
            raise CryptoError("message is for another AppID")
        try:
            return message.decode()
        except UnicodeDecodeError as exc:
            raise CryptoError("message is not UTF-8") from exc

"""Signatures and safe-mode AES against the independent implementation in fake_wechat."""

from __future__ import annotations

import base64
import hashlib

import pytest

from bot.channels.wechat_crypto import CryptoError, MessageCrypto, pad, sign, signature_ok, unpad
from bot.testing.fake_wechat import AES_KEY, APPID, TOKEN, WeChatSigner, wechat_signature

SIGNER = WeChatSigner(aes_key=AES_KEY)


def test_signature_is_sha1_of_the_sorted_parts():
    assert sign(TOKEN, "1409304348", "xxxxxx") == wechat_signature("xxxxxx", TOKEN, "1409304348")
    assert sign("b", "a") == sign("a", "b") == hashlib.sha1(b"ab").hexdigest()
    query = SIGNER.query()
    assert signature_ok((TOKEN, query["timestamp"], query["nonce"]), query["signature"])
    assert signature_ok((TOKEN, query["timestamp"], query["nonce"]), query["signature"].upper())
    assert not signature_ok((TOKEN, query["timestamp"], query["nonce"] + "1"), query["signature"])


def test_messages_encrypted_by_wechat_decrypt_and_ours_decrypt_at_wechat():
    crypto = MessageCrypto(TOKEN, AES_KEY, APPID)
    message = "<xml><Content><![CDATA[邻居漏水怎么办？]]></Content></xml>"
    assert crypto.decrypt(SIGNER.encrypt(message)) == message
    assert SIGNER.decrypt(crypto.encrypt(message)) == (message, APPID)
    for size in range(0, 70):  # every padding length, including a whole extra block of 32
        text = "x" * size
        assert SIGNER.decrypt(crypto.encrypt(text)) == (text, APPID)


def test_ciphertext_for_another_account_or_damaged_is_refused():
    crypto = MessageCrypto(TOKEN, AES_KEY, APPID)
    with pytest.raises(CryptoError, match="another AppID"):
        crypto.decrypt(SIGNER.encrypt("<xml/>", appid="wxOther"))
    with pytest.raises(CryptoError):
        crypto.decrypt("not base64!")
    with pytest.raises(CryptoError):
        crypto.decrypt(base64.b64encode(b"short").decode())
    good = base64.b64decode(SIGNER.encrypt("<xml/>"))
    flipped = good[:-1] + bytes([good[-1] ^ 0x55])  # breaks the padding of the last block
    with pytest.raises(CryptoError):
        crypto.decrypt(base64.b64encode(flipped).decode())


def test_padding_is_to_32_bytes():
    assert len(pad(b"a" * 31)) == 32 and len(pad(b"a" * 32)) == 64
    assert pad(b"")[-1] == 32 and unpad(pad(b"abc")) == b"abc"
    with pytest.raises(CryptoError):
        unpad(b"abc" + bytes([33]) * 33)
    with pytest.raises(CryptoError):
        unpad(b"abc\x02\x03")

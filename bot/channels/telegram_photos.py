"""Pictures residents sent on Telegram, fetched back for the web console: getFile for the
file's path, then the file itself (the Bot API serves files up to 20 MB)."""

from __future__ import annotations

import logging
import mimetypes

from telegram import Bot
from telegram.error import TelegramError

from bot.messages import Photo, PhotoUnavailable

log = logging.getLogger(__name__)

MAX_BYTES = 20 * 1024 * 1024


class TelegramPhotos:
    def __init__(self, settings) -> None:
        self.token = settings.telegram_token
        base = (settings.telegram_api_url or "https://api.telegram.org").rstrip("/")
        self.base_url, self.base_file_url = f"{base}/bot", f"{base}/file/bot"

    async def fetch(self, ref: str) -> Photo:
        bot = Bot(self.token, base_url=self.base_url, base_file_url=self.base_file_url)
        try:
            async with bot:
                file = await bot.get_file(ref)
                if file.file_size and file.file_size > MAX_BYTES:
                    raise PhotoUnavailable("图片超过 20 MB，请在聊天中查看。")
                data = bytes(await file.download_as_bytearray())
        except TelegramError as exc:
            log.warning("telegram: photo %s could not be fetched: %s", ref[:40], exc)
            raise PhotoUnavailable(
                "Telegram 没有返回这张图片（可能已过期或被删除），请在聊天中用 /case 查看。"
            ) from None
        kind = mimetypes.guess_type(file.file_path or "")[0] or "image/jpeg"
        return Photo(data, kind)

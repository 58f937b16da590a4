"""Files staff attach to notices: stored under the data directory with a generated name,
so no user-controlled text ever becomes a path."""

from __future__ import annotations

import logging
import re
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from starlette.responses import Response

from bot.messages import Attachment
from bot.services.export import export_dir

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif")
DOCUMENT_SUFFIXES = (".pdf", ".doc", ".docx", ".xls", ".xlsx", ".txt", ".ppt", ".pptx")
STORED_NAME = re.compile(r"[0-9a-f]{32}\.[a-z]{3,4}")


class UploadError(ValueError):
    pass


def folder(database_url: str) -> Path:
    return export_dir(database_url).parent / "uploads"


def clean_filename(name: str) -> str:
    base = Path(name.replace("\\", "/")).name.strip()
    base = re.sub(r"[\x00-\x1f<>:\"|?*]", "", base)
    return base[:100] or "附件"


def store(database_url: str, filename: str, data: bytes) -> tuple[str, str]:
    """Save an upload; returns (stored name, cleaned original name)."""
    original = clean_filename(filename)
    suffix = Path(original).suffix.lower()
    if suffix not in IMAGE_SUFFIXES + DOCUMENT_SUFFIXES:
        allowed = "、".join(s.lstrip(".") for s in IMAGE_SUFFIXES + DOCUMENT_SUFFIXES)
        raise UploadError(f"不支持这种文件（{suffix or '无扩展名'}），可以上传：{allowed}。")
    if not data:
        raise UploadError("上传的文件是空的。")
    target = folder(database_url)
    target.mkdir(parents=True, exist_ok=True)
    stored = f"{uuid.uuid4().hex}{suffix}"
    (target / stored).write_bytes(data)
    log.info("web: stored upload %s (%s, %d bytes)", stored, original, len(data))
    return stored, original


def attachment(database_url: str, stored: str, original: str) -> Attachment:
    """The Attachment for a stored upload named by a form field (checked, never joined raw)."""
    if not STORED_NAME.fullmatch(stored):
        raise UploadError("附件信息无效，请重新上传。")
    path = (folder(database_url) / stored).resolve()
    if path.parent != folder(database_url).resolve() or not path.is_file():
        raise UploadError("附件已不存在，请重新上传。")
    kind = "image" if path.suffix in IMAGE_SUFFIXES else "document"
    return Attachment(kind=kind, filename=clean_filename(original), path=str(path))


@contextmanager
def as_temporary_file(upload, suffix: str = ".xlsx") -> Iterator[Path]:
    """An uploaded spreadsheet as a file of a generated name in a private temporary folder
    (the services read paths), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="pufa-web-") as directory:
        path = Path(directory) / f"upload{suffix}"
        path.write_bytes(upload.data)
        yield path


def shown_error(message: str, path: Path, upload) -> str:
    """A service's message about `path`, naming the file as the person uploaded it."""
    return message.replace(path.name, upload.filename[:64])


def download(data: bytes, media_type: str, ascii_name: str, name: str) -> Response:
    """A file to save: `name` (Chinese) for browsers that read RFC 5987, `ascii_name` else."""
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    return Response(data, media_type=media_type, headers={"Content-Disposition": disposition})

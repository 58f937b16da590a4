"""Console settings (PUFA_WEB_*), read from the environment and .env like the rest."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PUFA_WEB_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    enabled: bool = False  # PUFA_WEB_ENABLED: `bot.py run` serves the console too
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    secret: str | None = None
    secure_cookies: bool = False
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    max_upload_mb: int = Field(default=20, ge=1, le=200)
    figures_ttl: float = Field(default=60.0, ge=0, le=3600)  # seconds the pages reuse figures

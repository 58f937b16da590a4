"""Settings from PUFA_* environment variables and an optional .env file.

An invalid value must end the program with one clear line naming the variable, so
`load_settings` turns pydantic's validation report into a `ConfigError`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_COMMUNITIES = ["东风里社区", "平阳里社区", "华阳里社区"]
# The office's 法治文化阵地 (rule-of-law culture sites) where activities take place.
DEFAULT_SITES = ["东风里社区法治文化广场", "平阳里社区法治宣传长廊", "华阳里社区法治书屋"]
ROLES = ("resident", "staff", "adviser", "admin")

CommaList = Annotated[list[str], NoDecode]
MAX_DURATION_SECONDS = 30 * 86400


class ConfigError(Exception):
    """A configuration value is invalid; the message names the variable."""


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.replace("，", ",").split(",") if part.strip()]
    return value


MAX_TOPIC_CHARS, MAX_COMMUNITY_CHARS = 32, 64  # the database columns' sizes


def _bounded_names(names: list[str], limit: int) -> list[str]:
    for name in names:
        if len(name) > limit:
            raise ValueError(f"“{name[:20]}…”超过 {limit} 个字")
    return names


def _parse_duration(value: object) -> object:
    """Accept seconds as a number or a string such as '90s', '30m', '1h', '2d'."""
    if isinstance(value, int | float | timedelta):
        return value if isinstance(value, timedelta) else timedelta(seconds=value)
    text = str(value).strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text and text[-1] in units:
        number, unit = text[:-1], units[text[-1]]
    else:
        number, unit = text, 1
    try:
        seconds = float(number) * unit
    except ValueError as exc:
        raise ValueError("应为时长，例如 30m、1h、2d 或秒数") from exc
    if not 0 <= seconds <= MAX_DURATION_SECONDS:  # also NaN and 1e400 (inf)
        raise ValueError("应为 0 秒到 30 天之间的时长，例如 30m、1h、2d")
    return timedelta(seconds=seconds)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PUFA_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = "sqlite:///data/pufa.db"
    timezone: str = "Asia/Shanghai"
    admins: CommaList = Field(default_factory=list)
    communities: CommaList = Field(default_factory=lambda: list(DEFAULT_COMMUNITIES))
    subscription_topics: CommaList = Field(
        default_factory=lambda: ["民法典", "宪法", "反诈", "平安建设", "妇女儿童权益"]
    )

    telegram_token: str | None = None
    telegram_api_url: str | None = None
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: str | None = None
    telegram_webhook_listen: str = "127.0.0.1"
    telegram_webhook_port: int = Field(default=8443, ge=1, le=65535)

    wechat_host: str = "127.0.0.1"
    wechat_port: int = Field(default=8080, ge=1, le=65535)
    wechat_path: str = "/wechat"
    wechat_token: str | None = None
    wechat_appid: str | None = None
    wechat_secret: str | None = Field(default=None, validate_default=True)
    wechat_aes_key: str | None = None
    wechat_api_url: str = "https://api.weixin.qq.com"

    case_sla_hours: int = Field(default=48, ge=1, le=24 * 60)
    digest_time: str = "09:00"
    misfire_grace: Annotated[timedelta, NoDecode] = timedelta(hours=1)
    telegram_rate: float = Field(default=25.0, gt=0, le=30)

    sites: CommaList = Field(default_factory=lambda: list(DEFAULT_SITES))
    office_name: str = Field(default="", max_length=40)
    report_template: str | None = None

    @field_validator("report_template")
    @classmethod
    def _template_file(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.lower().endswith(".docx") or not Path(value).is_file():
            raise ValueError(f"应为一个存在的 .docx 模板文件，而不是“{value}”")
        return value

    @field_validator("admins", "communities", "subscription_topics", "sites", mode="before")
    @classmethod
    def _lists(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("misfire_grace", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return _parse_duration(value)

    @field_validator("admins")
    @classmethod
    def _qualified_ids(cls, value: list[str]) -> list[str]:
        for item in value:
            channel, _, external = item.partition(":")
            if not channel or not external:
                raise ValueError(
                    f"“{item}”应写成 渠道:用户ID，例如 telegram:123456 或 console:admin"
                )
        return value

    @field_validator("communities")
    @classmethod
    def _non_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("至少需要一个社区名称")
        return _bounded_names(value, MAX_COMMUNITY_CHARS)

    @field_validator("subscription_topics")
    @classmethod
    def _topics(cls, value: list[str]) -> list[str]:
        return _bounded_names(value, MAX_TOPIC_CHARS)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"未知时区“{value}”，例如 Asia/Shanghai") from exc
        return value

    @field_validator("digest_time")
    @classmethod
    def _clock(cls, value: str) -> str:
        hours, _, minutes = value.partition(":")
        if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60):
            raise ValueError("应为 HH:MM，例如 09:00")
        return f"{int(hours):02d}:{int(minutes):02d}"

    @field_validator("database_url")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError("无法解析数据库地址，例如 sqlite:///data/pufa.db") from exc
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError("只支持 sqlite 和 postgresql")
        if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
            # We ship psycopg 3; plain postgresql:// would ask SQLAlchemy for psycopg2.
            value = url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        return value

    @field_validator("wechat_token")
    @classmethod
    def _wechat_token(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not re.fullmatch(r"[A-Za-z0-9]{3,32}", value):
            raise ValueError("应为 3–32 位英文字母或数字（与公众号后台“令牌(Token)”一致）")
        return value

    @field_validator("wechat_secret")
    @classmethod
    def _wechat_complete(cls, value: str | None, info: ValidationInfo) -> str | None:
        """The WeChat channel needs token, AppID and AppSecret together."""
        given = {
            "PUFA_WECHAT_TOKEN": info.data.get("wechat_token"),
            "PUFA_WECHAT_APPID": info.data.get("wechat_appid"),
            "PUFA_WECHAT_SECRET": value,
        }
        missing = [name for name, item in given.items() if not item]
        if missing and len(missing) < len(given):
            raise ValueError(
                "启用微信公众号需要同时设置 PUFA_WECHAT_TOKEN、PUFA_WECHAT_APPID 和 "
                f"PUFA_WECHAT_SECRET，缺少 {'、'.join(missing)}"
            )
        return value

    @field_validator("wechat_aes_key")
    @classmethod
    def _wechat_aes_key(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not re.fullmatch(r"[A-Za-z0-9+/]{43}", value):
            raise ValueError("应为公众号后台的 43 位 EncodingAESKey（英文字母和数字）")
        return value

    @field_validator("wechat_path")
    @classmethod
    def _wechat_path(cls, value: str) -> str:
        if not re.fullmatch(r"/[A-Za-z0-9._~/-]*", value):
            raise ValueError("应为以 / 开头的路径，例如 /wechat")
        return value

    @field_validator("wechat_api_url")
    @classmethod
    def _wechat_api_url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
            raise ValueError("应为 http(s):// 开头的地址，例如 https://api.weixin.qq.com")
        return value.rstrip("/")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_token)

    @property
    def wechat_enabled(self) -> bool:
        return bool(self.wechat_token and self.wechat_appid and self.wechat_secret)


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, raising ConfigError with a one-line reason."""
    try:
        return Settings(**overrides)
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"配置错误：.env 文件不是 UTF-8 编码（第 {exc.start} 字节附近），"
            "请用记事本“另存为”UTF-8 后再试"
        ) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        reason = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"配置错误：PUFA_{field.upper()} 无效：{reason}") from None

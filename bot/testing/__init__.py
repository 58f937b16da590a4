"""The test kit as a pytest plugin (loaded with `-p bot.testing`, see pyproject.toml): a
migrated database per test (SQLite, or PostgreSQL when
TEST_DATABASE_URL is set), the application core, and a console harness that drives the
real dispatcher the way the console channel does."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bot import db
from bot.app import Services, build
from bot.channels.console import ConsoleChannel
from bot.config import Settings
from bot.messages import Incoming, Reply
from faq.store import FaqStore

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
CIVIL_CODE = SHARED / "data" / "civil_code.jsonl"
DEV_SET = SHARED / "eval" / "dev.jsonl"
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")


def _run_admin_sql(statement: str) -> None:
    """Run one statement on the PostgreSQL server named by TEST_DATABASE_URL."""
    admin = db.make_engine(TEST_DATABASE_URL)
    with admin.begin() as connection:
        connection.execute(text(statement))
    admin.dispose()


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a PostgreSQL schema when TEST_DATABASE_URL is set."""
    if TEST_DATABASE_URL:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        _run_admin_sql(f'CREATE SCHEMA "{schema}"')
        base = Settings(database_url=TEST_DATABASE_URL).database_url
        separator = "&" if "?" in base else "?"
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
        _run_admin_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    else:
        yield f"sqlite:///{tmp_path / 'pufa.db'}"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = db.make_engine(database_url)
    db.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def faq_store() -> FaqStore:
    return FaqStore()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        admins=["console:admin", "telegram:1000"],
        _env_file=None,
    )


@pytest.fixture
def services(settings: Settings, engine: Engine, faq_store: FaqStore) -> Services:
    return build(settings, engine=engine, faq=faq_store, migrate=False)


class Harness:
    """Drive the real dispatcher as console users do: say a line, read the replies."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def console(self, user: str) -> ConsoleChannel:
        return ConsoleChannel(self.services.dispatcher, user)

    def say(self, user: str, text: str) -> list[Reply]:
        return self.console(user).say(text)

    def press(self, user: str, label_part: str, replies: list[Reply]) -> list[Reply]:
        """Press the first offered button whose label contains `label_part`."""
        for reply in replies:
            for button in reply.buttons:
                if label_part in button.label:
                    return self.services.dispatcher.handle(
                        Incoming(
                            channel="console",
                            user_id=user,
                            kind="button",
                            payload=button.payload,
                            text=button.label,
                        )
                    )
        offered = [b.label for r in replies for b in r.buttons]
        raise AssertionError(f"no button with {label_part!r}; offered: {offered}")

    def queued(self, user: str) -> list[Reply]:
        return self.console(user).deliver_queued()


@pytest.fixture
def harness(services: Services) -> Harness:
    return Harness(services)


def texts(replies: list[Reply]) -> str:
    return "\n".join(r.text for r in replies)


@pytest.fixture
def cli(database_url, tmp_path, monkeypatch, capsys):
    """Run `bot.py ARGS` in-process against the test database: (exit code, out, err)."""
    from bot.cli import main

    monkeypatch.setenv("PUFA_DATABASE_URL", database_url)
    monkeypatch.delenv("PUFA_TIMEZONE", raising=False)
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run

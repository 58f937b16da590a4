"""Engine creation and migrations.

SQLite (the zero-set-up default) runs in WAL mode with a busy timeout so the channel
threads and the scheduler can write at once; PostgreSQL needs nothing special. Schema
changes always go through the Alembic migrations shipped in `bot/migrations`.
"""

from __future__ import annotations

import fcntl
import logging
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 10_000


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, future=True)
    database = parsed.database
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    )
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def insert_or_ignore(session, model, **values) -> int | None:
    """INSERT one row unless it would break a unique constraint (then None): the id of the
    new row. One statement, no savepoint (pysqlite would commit a SAVEPOINT that starts a
    transaction when it is released), the same on SQLite and PostgreSQL."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(model).values(**values).on_conflict_do_nothing().returning(model.id)
    return session.execute(statement).scalar_one_or_none()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to `revision` (idempotent): one linear chain. Processes started
    together on one database (several `bot.py run` behind a load balancer) take turns: the
    first migrates, the others then find nothing to do."""
    config = alembic_config(engine)
    with migration_lock(engine):
        _join_former_heads(engine, ScriptDirectory.from_config(config))
        command.upgrade(config, revision)


def advisory_key(name: str, schema: str) -> int:
    """A stable PostgreSQL advisory-lock key for `name` in one schema (advisory locks are
    per database, and several deployments or test runs may share one in other schemas)."""
    return zlib.crc32(f"pufa-bot:{schema}:{name}".encode()) | (0x5055 << 32)


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """Held while migrating: a PostgreSQL advisory lock on a connection of its own, or a
    lock on a file beside a SQLite database; a second process waits for the first."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            schema = connection.execute(text("SELECT current_schema()")).scalar() or ""
            key = advisory_key("migrations", schema)
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()
        return
    database = make_url(str(engine.url)).database
    if not database or database == ":memory:":
        yield
        return
    with Path(f"{database}.migrations.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _join_former_heads(engine: Engine, scripts: ScriptDirectory) -> None:
    """Databases migrated while 0002, 0003 and 0004 were three heads branching from 0001
    record several versions. On the linear chain those are ancestors of the newest one,
    which alone stands for them (Alembic refuses overlapping versions)."""
    if not inspect(engine).has_table("alembic_version"):
        return
    with engine.begin() as connection:
        stored = set(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
        if len(stored) < 2:
            return
        chain = [r.revision for r in reversed(list(scripts.walk_revisions()))]
        newest = max(stored, key=chain.index)
        expected = set(chain[chain.index("0002") : chain.index(newest) + 1])
        if stored != expected:
            raise RuntimeError(
                f"database records migrations {sorted(stored)}: not a state "
                "any released version left; upgrade it by hand"
            )
        connection.execute(
            text("DELETE FROM alembic_version WHERE version_num <> :newest"), {"newest": newest}
        )
        log.info("migrations %s are now one chain: recorded as %s", sorted(stored), newest)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        heads = MigrationContext.configure(connection).get_current_heads()
    return ",".join(sorted(heads)) or None

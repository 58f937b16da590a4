"""Helpers for the web console tests: the app on the test database, accounts with known
passwords, signing in through the real form, a resident's case and subscribers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlmodel import Session
from starlette.testclient import TestClient

from bot.models import Case, User
from bot.services import cases as consultations
from bot.services import publicity
from bot.timeutil import utcnow
from bot.web import auth
from bot.web.app import create_app
from bot.web.settings import WebSettings

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
XSS = "<script>alert(1)</script>需要咨询离婚后孩子的抚养问题"


def web_settings(**values) -> WebSettings:
    return WebSettings(_env_file=None, secret="test-secret-" + "x" * 20, **values)


def app_for(services, **values):
    return create_app(services, web_settings(**values))


def make_account(
    engine, name: str, role: str, *, link: str | None = None, admins=(), fresh=False
) -> str:
    """An account; unless `fresh`, its password is PASSWORD and already changed."""
    with Session(engine) as session:
        account, one_time = auth.create(session, name, role, link, tuple(admins))
        if not fresh:
            account.password_hash = auth.HASHER.hash(PASSWORD)
            account.must_change = False
        session.commit()
    return one_time if fresh else PASSWORD


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def sign_in(client: TestClient, name: str, password: str = PASSWORD):
    token = csrf_of(client.get("/login").text)
    return client.post(
        "/login",
        data={"name": name, "password": password, "csrf": token, "next": "/"},
        follow_redirects=False,
    )


def client_as(app, engine, name: str, role: str, **account) -> TestClient:
    make_account(engine, name, role, **account)
    client = TestClient(app, base_url="http://testserver")
    response = sign_in(client, name)
    assert response.status_code == 303, response.text
    return client


def token(client: TestClient, path: str = "/account/password") -> str:
    return csrf_of(client.get(path).text)


def resident_case(
    engine, name: str = "resident1", description: str = XSS, *, age_hours: int = 0
) -> str:
    """A console resident's case (its number): the resident reads replies with the console."""
    with Session(engine) as session:
        user = User(channel="console", external_id=name, display_name=f"居民{name}")
        session.add(user)
        session.flush()
        at = utcnow() - timedelta(hours=age_hours)
        case = consultations.create_case(
            session,
            user,
            channel="console",
            topic="婚姻家庭",
            community="东风里社区",
            description=description,
            photos=["tg-photo-1"],
            phone=None,
            consent_at=at,
            now=at,
            zone=__import__("zoneinfo").ZoneInfo("Asia/Shanghai"),
        )
        session.commit()
        return case.number


def subscribers(engine, count: int, channel: str = "console") -> list[str]:
    names = []
    with Session(engine) as session:
        for index in range(count):
            user = User(channel=channel, external_id=f"sub{index}", community="东风里社区")
            session.add(user)
            session.flush()
            publicity.subscribe(session, user, topics=[], channel=channel, now=datetime.now(UTC))
            names.append(user.external_id)
        session.commit()
    return names


def case_row(engine, number: str) -> Case:
    with Session(engine) as session:
        return consultations.get_case(session, number)

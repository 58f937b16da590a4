"""Web console security, at the HTTP level: every route refuses an anonymous request and
a wrong role; every POST refuses a missing or forged CSRF token and changes nothing;
residents' text is escaped; sign-in, lock-out, forced password change and cookies."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, func, select
from starlette.routing import Route
from starlette.testclient import TestClient

from bot.models import (
    Case,
    CaseEvent,
    LitigationCase,
    Notice,
    OutboxMessage,
    User,
    WebAccount,
    WebAudit,
    WorkEntry,
)
from bot.testing.web import (
    XSS,
    app_for,
    client_as,
    make_account,
    resident_case,
    sign_in,
    subscribers,
    token,
)
from bot.timeutil import utcnow
from bot.web import auth, security

DUMMY = {
    "number": "ZS-2026-0001",
    "schedule_id": "1",
    "push_id": "1",
    "activity_id": "1",
    "question_id": "1",
    "account_id": "1",
    "entry_id": "1",
    "case_id": "1",
    "index": "0",
}


@pytest.fixture
def app(services):
    return app_for(services)


def guarded_routes(app) -> list[tuple[str, str, frozenset | None]]:
    table = []
    for route in app.routes:
        if isinstance(route, Route):
            path = route.path.format(**DUMMY)
            for method in sorted(route.methods - {"HEAD"}):
                table.append((method, path, route.endpoint.roles))
    return table


def call(client: TestClient, method: str, path: str, data: dict | None = None):
    if method == "GET":
        return client.get(path, follow_redirects=False)
    return client.post(path, data=data or {}, follow_redirects=False)


def test_every_route_but_sign_in_is_guarded_with_roles(app):
    table = guarded_routes(app)
    assert len(table) >= 30
    public = {(m, p) for m, p, roles in table if roles is None}
    assert public == {("GET", "/login"), ("POST", "/login")}
    for _, _, roles in table:
        assert roles is None or roles <= set(auth.WEB_ROLES)


def test_every_route_refuses_an_anonymous_request(app):
    client = TestClient(app)
    for method, path, roles in guarded_routes(app):
        if roles is None:
            continue
        response = call(client, method, path)
        if method == "GET":
            assert response.status_code == 303, (method, path)
            assert response.headers["location"].startswith("/login?next="), (method, path)
        else:
            assert response.status_code == 403, (method, path)


@pytest.mark.parametrize("role", auth.WEB_ROLES)
def test_every_route_refuses_a_role_it_does_not_allow(app, engine, role):
    client = client_as(app, engine, f"someone-{role}", role)
    csrf = token(client)
    refused = 0
    for method, path, roles in guarded_routes(app):
        if roles is None or role in roles:
            continue
        response = call(
            client, method, path, {"csrf": csrf, "text": "x", "name": "n", "role": "staff"}
        )
        assert response.status_code == 403, (role, method, path, response.status_code)
        assert security.FORBIDDEN in response.text
        refused += 1
    assert refused > 0 or role == "admin"


def test_a_linked_account_whose_chat_role_was_revoked_is_refused_everywhere(app, engine):
    client = client_as(app, engine, "linked", "staff", link="telegram:55")
    csrf = token(client)
    with Session(engine) as session:
        user = session.exec(select(User).where(User.external_id == "55")).one()
        assert user.role == "staff"  # the chat row carries the role
        user.role = "resident"  # /revoke in the chat
        session.commit()
    for method, path, roles in guarded_routes(app):
        if roles is None:
            continue
        response = call(client, method, path, {"csrf": csrf})
        assert response.status_code == 403, (method, path)


def test_every_post_refuses_a_missing_or_forged_csrf_token(app, engine):
    client = client_as(app, engine, "boss", "admin")
    for method, path, _roles in guarded_routes(app):
        if method != "POST":
            continue
        for form in ({}, {"csrf": "forged-token"}):
            response = call(client, method, path, {**form, "text": "x"})
            assert response.status_code == 403, (path, form)
            assert "CSRF" in response.text


def count(engine, model) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_a_forged_csrf_token_changes_nothing(app, engine):
    number = resident_case(engine)
    subscribers(engine, 3)
    client = client_as(app, engine, "clerk", "staff")
    before = (count(engine, Notice), count(engine, OutboxMessage), count(engine, CaseEvent))
    client.post(
        "/notices/send", data={"csrf": "forged", "text": "通知", "audience": "all", "action": "now"}
    )
    client.post(f"/cases/{number}/reply", data={"csrf": "forged", "text": "答复"})
    client.post(f"/cases/{number}/close", data={})
    client.post("/cases/walkin", data={"csrf": "forged", **WALKIN})
    client.post("/work", data={"csrf": "forged", **WORK})
    client.post("/litigation", data={"csrf": "forged", **LITIGATION})
    assert (count(engine, Notice), count(engine, OutboxMessage), count(engine, CaseEvent)) == before
    assert (count(engine, Case), count(engine, WorkEntry), count(engine, LitigationCase)) == (
        1,
        0,
        0,
    )
    real = token(client)
    for path, form in (("/cases/walkin", WALKIN), ("/work", WORK), ("/litigation", LITIGATION)):
        client.post(path, data={"csrf": real, **form})
    assert (count(engine, Case), count(engine, WorkEntry), count(engine, LitigationCase)) == (
        2,
        1,
        1,
    )
    real = token(client)
    client.post(
        "/notices/send", data={"csrf": real, "text": "通知", "audience": "all", "action": "now"}
    )
    assert count(engine, Notice) == before[0] + 1  # the same request with the real token works


WALKIN = {"channel": "walk_in", "community": "东风里社区", "topic": "继承遗产",
          "summary": XSS}  # fmt: skip
WORK = {"day": "2026-03-02", "kind": "opinion", "title": XSS, "department": "综合办"}
LITIGATION = {"kind": "civil", "number": "（2026）民初1号", "body": "区法院", "parties": XSS,
              "our_role": "defendant", "cause": "合同纠纷", "filed_on": "2026-02-01"}  # fmt: skip


def test_typed_text_on_the_legal_pages_is_escaped(app, engine):
    client = client_as(app, engine, "lawyer", "adviser")
    real = token(client)
    for path, form in (("/cases/walkin", WALKIN), ("/work", WORK), ("/litigation", LITIGATION)):
        client.post(path, data={"csrf": real, **form})
    for path in ("/cases", "/work?year=2026", "/work/1", "/litigation", "/litigation/1"):
        html = client.get(path).text
        assert "<script>alert(1)</script>" not in html, path
        assert "&lt;script&gt;" in html, path


def test_sign_in_itself_needs_the_csrf_token(app, engine):
    make_account(engine, "clerk", "staff")
    client = TestClient(app)
    client.get("/login")
    response = client.post("/login", data={"name": "clerk", "password": "correct horse battery"})
    assert response.status_code == 403
    assert "aid" not in client.cookies.get("pufa_session", "")
    assert sign_in(client, "clerk").status_code == 303


def test_residents_text_is_escaped_on_every_page_it_appears(app, engine):
    number = resident_case(engine, description=XSS)
    client = client_as(app, engine, "adviser", "adviser")
    for path in ("/cases", f"/cases/{number}", "/"):
        html = client.get(path).text
        assert "<script>alert(1)</script>" not in html, path
    page = client.get(f"/cases/{number}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_first_sign_in_forces_a_password_change(app, engine):
    one_time = make_account(engine, "newbie", "staff", fresh=True)
    client = TestClient(app)
    response = sign_in(client, "newbie", one_time)
    assert response.headers["location"] == security.PASSWORD_PATH
    assert (
        client.get("/cases", follow_redirects=False).headers["location"] == security.PASSWORD_PATH
    )
    csrf = token(client)
    bad = client.post(
        security.PASSWORD_PATH,
        data={"csrf": csrf, "old": one_time, "new": "short", "again": "short"},
    )
    assert bad.status_code == 400 and "至少" in bad.text
    good = client.post(
        security.PASSWORD_PATH,
        data={
            "csrf": csrf,
            "old": one_time,
            "new": "a new long secret",
            "again": "a new long secret",
        },
        follow_redirects=False,
    )
    assert good.status_code == 303
    assert client.get("/cases").status_code == 200
    other = TestClient(app)
    assert sign_in(other, "newbie", one_time).status_code == 401
    assert sign_in(other, "newbie", "a new long secret").status_code == 303


def test_five_failures_lock_the_account_for_fifteen_minutes(app, engine):
    make_account(engine, "clerk", "staff")
    client = TestClient(app)
    for _ in range(auth.MAX_FAILURES):
        assert sign_in(client, "clerk", "wrong password").status_code == 401
    locked = sign_in(client, "clerk")
    assert locked.status_code == 401 and "锁定" in locked.text
    with Session(engine) as session:
        account = auth.find(session, "clerk")
        assert account.locked_until is not None
        account.locked_until = utcnow() - timedelta(seconds=1)  # 15 minutes later
        session.commit()
    assert sign_in(client, "clerk").status_code == 303
    with Session(engine) as session:
        actions = session.exec(select(WebAudit.action)).all()
    assert actions.count("login_failed") == auth.MAX_FAILURES + 1 and "login" in actions


def test_four_failures_then_success_do_not_lock(app, engine):
    make_account(engine, "clerk", "staff")
    client = TestClient(app)
    for _ in range(auth.MAX_FAILURES - 1):
        sign_in(client, "clerk", "wrong password")
    assert sign_in(client, "clerk").status_code == 303
    with Session(engine) as session:
        assert auth.find(session, "clerk").failed_logins == 0


def test_the_session_cookie_is_signed_httponly_and_samesite(services, engine):
    make_account(engine, "clerk", "staff")
    for secure in (False, True):
        client = TestClient(app_for(services, secure_cookies=secure), base_url="https://testserver")
        response = sign_in(client, "clerk")
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        assert ("secure" in cookie) is secure
    tampered = TestClient(app_for(services))
    tampered.cookies.set("pufa_session", "eyJhaWQiOiAxLCAiZXAiOiAwfQ==.forged.sig")
    assert tampered.get("/", follow_redirects=False).status_code == 303


def test_sign_out_ends_the_session(app, engine):
    client = client_as(app, engine, "clerk", "staff")
    csrf = token(client)
    assert client.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    assert client.get("/", follow_redirects=False).headers["location"].startswith("/login")


def test_a_disabled_account_loses_its_session_and_cannot_sign_in(app, engine):
    client = client_as(app, engine, "clerk", "staff")
    with Session(engine) as session:
        account = auth.find(session, "clerk")
        account.disabled = True
        session.commit()
    assert client.get("/", follow_redirects=False).status_code == 303
    assert sign_in(TestClient(app), "clerk").status_code == 401


def test_the_next_parameter_cannot_leave_the_site(app, engine):
    make_account(engine, "clerk", "staff")
    client = TestClient(app)
    csrf = token(client, "/login")
    response = client.post(
        "/login",
        data={
            "name": "clerk",
            "password": "correct horse battery",
            "csrf": csrf,
            "next": "//evil.example/x",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_a_linked_account_takes_its_role_from_the_chat_user(engine, settings):
    with Session(engine) as session:
        account, _ = auth.create(session, "lawyer", "adviser", "telegram:77")
        user = session.get(User, account.user_id)
        assert (user.ref, user.role, auth.role_of(session, account)) == (
            "telegram:77",
            "adviser",
            "adviser",
        )
        user.role = "staff"  # granted in the chat
        assert auth.role_of(session, account) == "staff"
        with pytest.raises(auth.AccountError):
            auth.create(session, "fake-admin", "admin", "telegram:78")
        admin, _ = auth.create(
            session, "chief", "admin", "telegram:1000", admins=tuple(settings.admins)
        )
        assert auth.role_of(session, admin) == "admin"
        assert session.exec(select(func.count()).select_from(WebAccount)).one() == 2


POLICY = (  # path prefix → who may use it (a change here is a decision, not an accident)
    ("/admin/", security.ADMIN),
    ("/kb/reload", security.ADMIN),
    ("/kb", security.STAFF),
    ("/notices", security.STAFF),
    ("/activities", security.STAFF),
    ("/stats", security.STAFF),
    ("/cases", security.ADVISERS),
    ("/work", security.ADVISERS),
    ("/litigation", security.ADVISERS),
    ("/account/", security.EVERYONE),
    ("/logout", security.EVERYONE),
    ("/", security.EVERYONE),
)


def test_each_route_allows_exactly_the_roles_of_its_area(app):
    for method, path, roles in guarded_routes(app):
        if roles is None:
            continue
        expected = next(allowed for prefix, allowed in POLICY if path.startswith(prefix))
        assert roles == expected, (method, path)

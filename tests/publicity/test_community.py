"""A resident's community: asked once (skippable) at the first subscription, taken from the
first consultation, changed in /settings; the statistics by community show 未填写 with its
share."""

from __future__ import annotations

from sqlmodel import Session

from bot.services import periods, stats, users
from bot.testing import Harness, texts
from bot.testing.factories import press_payload, submit


def community_of(engine, user: str) -> str | None:
    with Session(engine) as session:
        return users.find(session, "console", user).community


def test_the_first_subscription_asks_once_and_can_be_skipped(harness: Harness, engine):
    first = harness.say("ann", "/subscribe")
    assert "已订阅" in first[0].text and "哪个社区" in first[1].text
    assert [b.label for b in first[1].buttons][-1] == "跳过"
    assert "不填写社区" in texts(harness.press("ann", "跳过", first))
    assert community_of(engine, "ann") is None
    harness.say("ann", "/unsubscribe")
    again = harness.say("ann", "/subscribe")
    assert len(again) == 1 and "已订阅" in again[0].text  # not asked a second time

    chosen = harness.press("ben", "平阳里社区", harness.say("ben", "/subscribe"))
    assert "所在社区已设为平阳里社区" in texts(chosen)
    assert community_of(engine, "ben") == "平阳里社区"


def test_settings_shows_changes_and_clears_the_community(harness: Harness, engine):
    shown = harness.say("cat", "/settings")
    assert "所在社区：未填写" in texts(shown)
    changed = harness.press("cat", "华阳里社区", shown)
    assert "所在社区已设为华阳里社区" in texts(changed) and "✅ 华阳里社区" in [
        b.label for b in changed[0].buttons
    ]
    cleared = harness.press("cat", "不填写社区", changed)
    assert "所在社区：未填写" in texts(cleared) and community_of(engine, "cat") is None
    assert "失效" in texts(press_payload(harness, "cat", "com:set:99"))
    assert "所在社区" in texts(harness.say("cat", "我的设置"))


def test_the_first_consultation_sets_the_community_and_later_ones_do_not(harness: Harness, engine):
    submit(harness, "dora")  # chooses 东风里社区 in the intake
    assert community_of(engine, "dora") == "东风里社区"
    harness.say("dora", "/settings")
    harness.press("dora", "平阳里社区", harness.say("dora", "/settings"))
    submit(harness, "dora")
    assert community_of(engine, "dora") == "平阳里社区"  # her own choice stands


def test_figures_by_community_show_the_unknown_share(harness: Harness, engine):
    harness.say("eve", "离婚冷静期是多少天")  # no community yet
    harness.say("fox", "/settings")
    harness.press("fox", "东风里社区", harness.say("fox", "/settings"))
    harness.say("fox", "房东不退押金怎么办")
    with Session(engine) as session:
        figures = stats.compute(session, periods.current_year(harness.services.settings.zone))
    rows = {r.label: r.values for r in figures.breakdown("community").rows}
    assert rows["未填写"]["residents"] == 2  # fox's /settings came before the choice
    assert rows["未填写"]["residents_share"] == 100.0
    assert rows["东风里社区"]["residents"] == 1 and rows["东风里社区"]["residents_share"] == 50.0
    assert rows["东风里社区"]["questions"] == 1 and rows["未填写"]["questions"] == 1
    assert "未填写社区的群众 2 人，占服务群众 100.0%" in stats.summary_text(figures)

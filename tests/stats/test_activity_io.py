"""Activities from and to Excel (`activity import|export`), the richer activity fields, and
the register of items published through other channels (`publication add|list|delete`).
Sample files are generated here (no binaries in git)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlmodel import Session, select

from bot.models import Activity, LedgerEvent, Publication
from bot.services import activities
from bot.testing import texts

HEADINGS = [
    "日期", "类型", "名称", "参与人数", "社区", "主题", "对象", "发放资料（份）", "阵地",
    "系列栏目", "主讲人或团队", "附件", "备注",
]  # fmt: skip
GOOD = [
    [datetime(2026, 3, 5), "普法宣讲", "民法典进社区", 120, "东风里社区", "民法典", "居民", 300,
     "东风里社区法治文化广场", "大赵讲纪、小赵说法", "老法官志愿团", "photos/0305-1.jpg；signin/0305.pdf",
     "三八节专场"],
    ["2026-04-10", "学法", "执法队员民法典培训", "40人", None, None, "执法人员", None, None, None,
     "街道法律顾问", None, None],
]  # fmt: skip


def sheet(path: str, rows: list[list], headings: list[str] = HEADINGS) -> Path:
    book = Workbook()
    book.active.append(headings)
    for row in rows:
        book.active.append(row)
    book.save(path)
    return Path(path)


def _activities(engine) -> list[Activity]:
    with Session(engine) as session:
        return list(session.exec(select(Activity).order_by(Activity.id)))


def test_import_saves_every_field_and_export_gives_back_the_same_layout(cli, engine, tmp_path):
    code, out, err = cli("activity", "import", str(sheet("a.xlsx", GOOD)))
    assert code == 0 and "已导入 2 次活动（参与 160 人次）" in out, err
    lecture, training = _activities(engine)
    assert (lecture.day, lecture.kind, lecture.audience, lecture.materials) == (
        date(2026, 3, 5), "lecture", "residents", 300,
    )  # fmt: skip
    assert (lecture.site, lecture.series, lecture.lecturer) == (
        "东风里社区法治文化广场", "大赵讲纪、小赵说法", "老法官志愿团",
    )  # fmt: skip
    assert lecture.attachments == ["photos/0305-1.jpg", "signin/0305.pdf"]
    assert (training.kind, training.audience, training.attendance) == ("study", "enforcement", 40)

    code, out, _ = cli("activity", "export", "--year", "2026", "--out", "back.xlsx")
    assert code == 0 and "2 次" in out
    exported = load_workbook(tmp_path / "back.xlsx").active
    rows = list(exported.iter_rows(values_only=True))
    assert list(rows[0]) == HEADINGS
    assert rows[1][0] == datetime(2026, 3, 5) and rows[1][7] == 300
    assert rows[1][11] == "photos/0305-1.jpg；signin/0305.pdf" and rows[2][6] == "执法人员"
    assert str(exported.page_setup.paperSize) == exported.PAPERSIZE_A4

    # The exported file is the import layout: re-importing it is refused as duplicates …
    code, _, err = cli("activity", "import", "back.xlsx")
    assert code == 2 and "第2行：已登记过这次活动（#1）" in err and "第3行" in err
    assert len(_activities(engine)) == 2
    # … and into a fresh year it would go in as is: delete, then import it back.
    for activity in _activities(engine):
        assert cli("activity", "delete", str(activity.id))[0] == 0
    code, out, _ = cli("activity", "import", "back.xlsx")
    assert code == 0 and "已导入 2 次活动" in out
    again = _activities(engine)
    assert [(a.title, a.materials, a.attachments) for a in again] == [
        ("民法典进社区", 300, ["photos/0305-1.jpg", "signin/0305.pdf"]),
        ("执法队员民法典培训", 0, []),
    ]


def test_a_file_with_bad_rows_imports_nothing_and_names_every_row(cli, engine):
    rows = [
        GOOD[0],
        ["2026-02-30", "普法宣讲", "日期不存在", 10],
        ["2026-05-01", "茶话会", "类型不对", 10],
        ["2026-05-02", "普法宣讲", "人数不对", "很多"],
        [None, None, None, None],  # a blank line is skipped
        ["2026-05-03", "普法宣讲", "", 10],
        ["2026-05-04", "普法宣讲", "对象不对", 10, None, None, "游客"],
        ["2026-05-05", "普法宣讲", "资料不对", 10, None, None, None, "-5"],
        GOOD[0],
    ]
    code, out, err = cli("activity", "import", str(sheet("bad.xlsx", rows)))
    assert code == 2 and out == ""
    assert "没有导入任何活动" in err
    for reason in (
        "第3行：日期“2026-02-30”不存在",
        "第4行：未知的活动类型“茶话会”",
        "第5行：参与人数应为整数",
        "第7行：名称不能为空",
        "第8行：未知的活动对象“游客”",
        "第9行：发放资料份数 -5 不在",
        "第10行：与第2行是同一次活动",
    ):
        assert reason in err, reason
    assert "第6行" not in err and "第2行：" not in err
    assert _activities(engine) == []
    with Session(engine) as session:
        assert session.exec(select(LedgerEvent)).all() == []


@pytest.mark.parametrize(
    ("headings", "message"),
    [
        (["日期", "类型", "名称"], "缺少必填的列：参与人数"),
        (["日期", "类型", "名称", "参与人数", "天气"], "不认识的列“天气”"),
        (["日期", "类型", "名称", "参与人数", "名称"], "列“名称”出现了两次"),
    ],
)
def test_a_file_with_wrong_columns_is_refused(cli, engine, headings, message):
    code, _, err = cli("activity", "import", str(sheet("cols.xlsx", [GOOD[0][:5]], headings)))
    assert code == 2 and message in err
    assert _activities(engine) == []


def test_a_file_that_is_not_a_workbook_is_refused(cli, engine, tmp_path):
    (tmp_path / "notes.xlsx").write_text("不是表格", encoding="utf-8")
    code, _, err = cli("activity", "import", "notes.xlsx")
    assert code == 2 and "无法读取“notes.xlsx”" in err and "Traceback" not in err
    code, _, err = cli("activity", "import", "missing.xlsx")
    assert code == 2 and "无法读取" in err
    code, _, err = cli("activity", "export", "--out", "x.csv")
    assert code == 2 and ".xlsx" in err


def test_activity_add_and_edit_take_the_new_fields(cli, engine):
    code, out, _ = cli(
        "activity", "add", "--date", "2026-06-01", "--type", "宣讲", "--title", "宪法宣誓",
        "--attendance", "30", "--audience", "干部", "--materials", "50份",
        "--site", "华阳里社区法治书屋", "--series", "法治讲堂", "--lecturer", "老法官志愿团",
        "--attachments", "a.jpg,b.jpg",
    )  # fmt: skip
    assert code == 0 and "对象：机关干部" in out and "发放资料 50 份" in out and "附件 2 个" in out
    code, out, _ = cli("activity", "edit", "1", "--audience", "居民", "--materials", "80")
    assert code == 0 and "对象" not in out and "发放资料 80 份" in out
    code, _, err = cli("activity", "edit", "1", "--materials", "许多")
    assert code == 2 and "发放资料份数应为整数" in err
    (saved,) = _activities(engine)
    assert (saved.audience, saved.materials, saved.attachments) == (
        "residents",
        80,
        ["a.jpg", "b.jpg"],
    )


def test_publication_register_add_list_delete(cli, engine):
    code, out, _ = cli(
        "publication", "add", "--date", "2026-05-12", "--channel", "公众号",
        "--title", "民法典与生活同行", "--topic", "民法典", "--link", "https://mp.weixin.qq.com/s/x",
    )  # fmt: skip
    assert code == 0 and "#1 2026-05-12 微信公众号 《民法典与生活同行》" in out
    assert cli("publication", "add", "--date", "2026-07-01", "--channel", "微信群",
               "--title", "防范电信诈骗")[0] == 0  # fmt: skip
    code, out, _ = cli("publication", "list", "2026-05")
    assert (
        code == 0 and "民法典与生活同行" in out and "防范电信诈骗" not in out and "共 1 条" in out
    )
    for args, message in (
        (("--channel", "抖音"), "未知的发布渠道“抖音”"),
        (("--link", "mp.weixin.qq.com"), "链接应以 http://"),
        (("--date", "2026-13-01"), "日期"),
    ):
        base = {"--date": "2026-05-01", "--channel": "微博", "--title": "标题"}
        base.update(dict([args]))
        code, _, err = cli("publication", "add", *(x for pair in base.items() for x in pair))
        assert code == 2 and message in err, (args, err)
    code, out, _ = cli("publication", "delete", "2")
    assert code == 0 and "已删除" in out
    assert cli("publication", "delete", "2")[0] == 2
    with Session(engine) as session:
        assert [p.title for p in session.exec(select(Publication))] == ["民法典与生活同行"]
        kinds = [e.kind for e in session.exec(select(LedgerEvent))]
    assert kinds == ["publication_added", "publication_added", "publication_deleted"]
    code, out, _ = cli("stats", "2026")
    assert "累计发布普法信息 1 条（普法助手 0 条，其他渠道 1 条）" in out


def test_staff_set_the_new_fields_in_chat_with_activity_edit(harness, engine):
    harness.say("admin", "/grant console:clerk staff")
    assert "阵地" in texts(harness.say("clerk", "/activity"))
    with Session(engine) as session:
        activities.add(
            session,
            activities.draft(day="2026-05-12", kind="宣讲", title="民法典进社区", attendance=80),
            channel="console",
        )
        session.commit()
    assert "对象：执法人员" in texts(harness.say("clerk", "/activity edit 1 对象 执法人员"))
    assert "发放资料 300 份" in texts(harness.say("clerk", "/activity edit 1 资料 300份"))
    assert "阵地：东风里社区法治文化广场" in texts(
        harness.say("clerk", "/activity edit 1 阵地 东风里社区法治文化广场")
    )
    assert "未知的活动对象" in texts(harness.say("clerk", "/activity edit 1 对象 游客"))
    (saved,) = _activities(engine)
    assert (saved.audience, saved.materials, saved.site) == (
        "enforcement", 300, "东风里社区法治文化广场",
    )  # fmt: skip

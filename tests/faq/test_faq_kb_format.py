"""The loader's rules for the resident-facing format: next_step, phrasing counts, the
conclusion line, articles mentioned in the text but not cited, empty book files, and the
reload guard against dropping many entries at once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from faq import kb as kb_module
from faq.kb import DATA_DIR, article_number, check, load_kb
from faq.store import FaqStore, check_drop

LONG = [
    "我家住在老小区三楼，楼上邻居装修把水管弄破了，水顺着天花板流下来把我家衣柜泡坏了",
    "请问律师，我和XX是邻居，他家卫生间漏水好几个月了，我家墙皮都掉了，他一直拖着不修",
    "去年年底楼上换了新住户，他们装修以后我家厨房吊顶一直往下滴水，物业说找不到原因",
    "我母亲一个人住，楼上漏水把她的床和被子都弄湿了，老人家身体不好，对方不肯赔钱",
]
SHORT = ["楼上漏水咋办", "漏水谁赔"]


def _entry(entry_id: str, answer: str, next_step: str | None, articles: str, extra: int = 6):
    tag = "甲乙丙丁戊己庚辛"[sum(map(ord, entry_id)) % 8] + entry_id[-2:]
    phrasings = [*LONG, *SHORT, *(f"楼上漏水把我家弄坏了第{i}种问法" for i in range(extra))]
    phrasings = [p.replace("楼上", f"{tag}楼上", 1) for p in phrasings]
    lines = [
        f"  - id: {entry_id}",
        "    topic: 漏水",
        f"    question: {entry_id}楼上漏水到我家，谁来赔？",
        "    phrasings:",
        *(f"      - {p}" for p in phrasings),
        "    keywords: [漏水]",
        "    answer: |-",
        *(f"      {line}" for line in answer.split("\n")),
    ]
    if next_step is not None:
        lines.append(f"    next_step: {json.dumps(next_step, ensure_ascii=False)}")
    lines += [f"    articles: [{articles}]", "    reviewed: 2026-12-01", ""]
    return "\n".join(lines)


GOOD_ANSWER = "要赔。\n楼上漏水弄坏了您家的东西，楼上的住户要赔。\n先拍照留证据。"
NEXT = "先找社区人民调解委员会调解；调解不成可点「咨询法律顾问」或拨打12348。"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(DATA_DIR, target)
    return target


def _write(data: Path, body: str) -> None:
    (data / "kb" / "zz-new.yaml").write_text("book: 物权\nentries:\n" + body, encoding="utf-8")


def test_a_new_format_entry_loads_with_its_next_step(data: Path):
    _write(data, _entry("pr-test-good", GOOD_ANSWER, NEXT, "1165"))
    assert check(data) == []
    entry = load_kb(data).by_id["pr-test-good"]
    assert entry.next_step == NEXT and entry.conclusion == "要赔。"
    assert entry.detail_lines[0].startswith("楼上漏水")


def test_new_format_limits_are_errors(data: Path):
    body = _entry("pr-test-few", GOOD_ANSWER, NEXT, "1165", extra=0)  # 6 phrasings
    body += _entry("pr-test-one-line", "要赔，楼上住户要赔。", NEXT, "1165")
    body += _entry("pr-test-two-lines", GOOD_ANSWER, "先调解。\n再起诉。", "1165")
    _write(data, body)
    problems = "\n".join(check(data))
    assert "pr-test-few）：phrasings 有 6 个，至少需要 12 个" in problems
    assert "pr-test-one-line）：answer 第一行应为一句话结论" in problems
    assert "pr-test-two-lines）：next_step 应为一行非空文字" in problems


def test_an_article_mentioned_but_not_cited_is_an_error(data: Path):
    answer = "要赔。\n依照《民法典》第一千一百六十五条，过错方要赔。\n也可以看第1254条。"
    _write(data, _entry("pr-test-cite", answer, NEXT, "1165"))
    problems = check(data)
    assert any("回答提到了第1254条，但 articles 里没有列出" in p for p in problems), problems
    assert not any("第1165条" in p for p in problems)


def test_articles_of_other_laws_are_not_civil_code_references(data: Path):
    answer = "要赔。\n按《道路交通安全法》第七十六条、第七十七条处理。\n《民法典》第1165条也适用。"
    _write(data, _entry("pr-test-other-law", answer, NEXT, "1165"))
    assert check(data) == []


def test_next_step_mentions_are_checked_too(data: Path):
    _write(data, _entry("pr-test-next", GOOD_ANSWER, "可以依照第1167条要求停止侵害。", "1165"))
    assert any("第1167条" in p for p in check(data))


def test_chinese_article_numbers_are_read():
    assert [article_number(t) for t in ("一千零七十七", "七百一十一", "十五", "1260")] == [
        1077,
        711,
        15,
        1260,
    ]


@pytest.mark.parametrize("content", ["", "\n\n", "book: 物权\nentries: []\n"])
def test_an_empty_book_file_is_refused(data: Path, content: str):
    (data / "kb" / "property.yaml").write_text(content, encoding="utf-8")
    problems = check(data)
    assert any("property.yaml" in p and "空" in p for p in problems), problems


@pytest.mark.parametrize("required", [False, True])
def test_a_missing_next_step_is_a_warning_until_required(data: Path, monkeypatch, required):
    monkeypatch.setattr(kb_module, "REQUIRE_NEXT_STEP", required)
    _write(data, _entry("pr-test-old-format", GOOD_ANSWER, None, "1165"))
    problems = check(data)
    missing = [p for p in problems if "pr-test-old-format" in p and "缺少 next_step" in p]
    if required:
        assert missing
    else:
        assert not missing
        assert any("pr-test-old-format" in w for w in load_kb(data).warnings)


def _small_data(tmp_path: Path) -> Path:
    target = tmp_path / "small"
    (target / "kb").mkdir(parents=True)
    shutil.copytree(DATA_DIR / "vocab", target / "vocab")
    for name in ("marriage-family.yaml", "succession.yaml"):
        shutil.copy(DATA_DIR / "kb" / name, target / "kb" / name)
    return target


def test_a_reload_that_drops_many_entries_is_refused_unless_forced(tmp_path: Path):
    data = _small_data(tmp_path)
    store = FaqStore(data)
    before, size = store.matcher, len(store.kb)
    (data / "kb" / "succession.yaml").unlink()
    problems = store.reload()
    assert problems and "/reload force" in problems[0]
    assert store.matcher is before
    assert store.reload(force=True) == []
    assert len(store.kb) < size * 0.9


def test_the_drop_guard_allows_small_changes(faq_store: FaqStore):
    kb = faq_store.kb
    few_less = type(kb)(kb.entries[: int(len(kb) * 0.95)], kb.vocabulary)
    check_drop(kb, few_less)  # 5 % fewer: accepted
    with pytest.raises(Exception, match="reload force"):
        check_drop(kb, type(kb)(kb.entries[: int(len(kb) * 0.8)], kb.vocabulary))

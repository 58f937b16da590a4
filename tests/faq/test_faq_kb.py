"""The knowledge base: every cited article exists and says what the entry is about, the
files validate, a broken reload never replaces a working knowledge base."""

from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path

import pytest
import yaml
from rapidfuzz import fuzz

from bot.testing import CIVIL_CODE, DEV_SET
from faq.kb import BOOKS, DATA_DIR, check, load_kb, normalize_phrase
from faq.store import FaqStore


@pytest.fixture(scope="module")
def civil_code() -> dict[int, dict]:
    if not CIVIL_CODE.exists():
        pytest.skip(f"needs {CIVIL_CODE} (the Civil Code reference data beside the repository)")
    with CIVIL_CODE.open(encoding="utf-8") as handle:
        return {row["article"]: row for row in map(json.loads, handle)}


def test_knowledge_base_covers_all_seven_books(faq_store: FaqStore):
    kb = faq_store.kb
    assert len(kb) >= 300
    counts = {book: sum(e.book == book for e in kb.entries) for book in BOOKS}
    assert all(count >= 20 for count in counts.values()), counts
    assert all(len(e.phrasings) >= 3 and e.keywords for e in kb.entries)


def test_every_cited_article_exists_in_the_civil_code(faq_store: FaqStore, civil_code):
    cited = {a for e in faq_store.kb.entries for a in e.articles}
    assert cited <= set(civil_code)
    assert len(cited) > 300  # the answers draw on a broad part of the Code


def test_no_evaluation_question_was_copied_into_the_knowledge_base(faq_store: FaqStore):
    if not DEV_SET.exists():
        pytest.skip(f"needs {DEV_SET}")
    phrasings = [normalize_phrase(t) for e in faq_store.kb.entries for t in e.texts]
    with DEV_SET.open(encoding="utf-8") as handle:
        questions = [normalize_phrase(json.loads(line)["question"]) for line in handle]
    copied = [
        q
        for q in questions
        if any(fuzz.ratio(q, p) >= 85 for p in phrasings if abs(len(p) - len(q)) < 12)
    ]
    assert copied == []


def _copy_data(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(DATA_DIR, target)
    return target


def _first_entry_again(data: Path) -> str:
    """A valid entry whose id already exists: the first entry of the first book file."""
    first = yaml.safe_load(sorted((data / "kb").glob("*.yaml"))[0].read_text(encoding="utf-8"))
    text = yaml.safe_dump([first["entries"][0]], allow_unicode=True, sort_keys=False)
    return "".join(f"  {line}\n" for line in text.splitlines())


def test_kb_check_names_every_problem(tmp_path: Path, faq_store: FaqStore):
    data = _copy_data(tmp_path)
    path = data / "kb" / "broken.yaml"
    entry = (
        "  - id: {id}\n    topic: 测试\n    question: {q}\n    phrasings: [{q}一, {q}二, {q}三]\n"
        "    keywords: [测试]\n    answer: {answer}\n    articles: [{article}]\n"
        "    reviewed: 2026-11-25\n"
    )
    path.write_text(
        "book: 物权\nentries:\n"
        + _first_entry_again(data)
        + entry.format(id="pr-long", q="太长", answer="很长的回答。" * 120, article=1300)
        + "  - id: Bad_Id\n    topic: 测试\n    question: 缺字段\n    phrasings: [甲, 乙]\n",
        encoding="utf-8",
    )
    problems = "\n".join(check(data))
    assert "id 重复" in problems
    assert "超过 520 字" in problems
    assert "[1300] 不在 1..1260 之间" in problems
    assert "缺少字段" in problems


def test_kb_check_rejects_unreadable_yaml(tmp_path: Path):
    data = _copy_data(tmp_path)
    (data / "kb" / "general.yaml").write_text("book: 总则\nentries: [\n", encoding="utf-8")
    assert any("无法读取" in p for p in check(data))


def test_reload_keeps_the_working_knowledge_base_on_a_broken_file(tmp_path: Path):
    data = _copy_data(tmp_path)
    store = FaqStore(data)
    before = store.matcher
    target = data / "kb" / "tort.yaml"
    good = target.read_text(encoding="utf-8")
    target.write_text(good.replace("articles: [", "articles: [9999, ", 1), encoding="utf-8")
    problems = store.reload()
    assert problems and "9999" in problems[0]
    assert store.matcher is before  # still answering with the old knowledge base
    target.write_text(good, encoding="utf-8")
    assert store.reload() == []
    assert store.matcher is not before and len(store.kb) == len(before.kb)


def test_load_kb_matches_the_live_store(faq_store: FaqStore):
    assert len(load_kb()) == len(faq_store.kb)


def test_knowledge_base_yaml_is_parsed_by_a_safe_loader():
    """The fast (libyaml) loader must still be a safe one: no Python objects from a file."""
    from faq.yamlfile import parse as parse_yaml

    assert parse_yaml("a: [1, 二]\nb: 2026-12-06\n") == {
        "a": [1, "二"],
        "b": datetime.date(2026, 12, 6),
    }
    with pytest.raises(yaml.YAMLError):
        parse_yaml("!!python/object/apply:os.system ['true']")

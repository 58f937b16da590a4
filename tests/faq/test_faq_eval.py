"""The one definition of the evaluation figures, the fixed tune/check split, and the CLI
that keeps check-half misses out of sight."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bot.testing import REPO
from faq.evaluate import CHECK, TUNE, Report, half_of, score_item, select_half
from faq.kb import KnowledgeBase
from faq.matcher import Match, MatchResult
from faq.store import FaqStore


def _result(kb: KnowledgeBase, status: str, label: int, right: bool) -> MatchResult:
    """A result whose first match cites `label` (right) or does not (wrong)."""
    wrong = next(e for e in kb.entries if label not in e.articles)
    first = kb.by_article[label][0] if right else wrong
    matches = (Match(first, 0.5), Match(wrong, 0.4)) if status in ("answered", "suggest") else ()
    return MatchResult("q", status, matches)


def test_hit1_needs_an_outright_right_answer_and_top1_does_not(faq_store: FaqStore):
    kb = faq_store.kb
    article = kb.entries[0].articles[0]
    report = Report()
    item = {"question": "q", "in_scope": True, "articles": [article]}
    out = {"question": "q", "in_scope": False}
    score_item(report, item, _result(kb, "answered", article, True))  # right, outright
    score_item(report, item, _result(kb, "suggest", article, True))  # right, only suggested
    score_item(report, item, _result(kb, "answered", article, False))  # wrong, outright
    score_item(report, item, _result(kb, "none", article, False))
    score_item(report, out, _result(kb, "answered", article, False))
    score_item(report, out, _result(kb, "out_of_scope", article, False))
    f = report.figures()
    assert (report.in_scope, report.hit1, report.top1, report.answered) == (4, 1, 2, 2)
    assert f["hit@1"] == 0.25 and f["top-1"] == 0.5 and f["answered"] == 0.5
    assert f["precision"] == 1 / 3  # the out-of-scope line answered outright counts too
    assert f["out_of_scope"] == 0.5
    assert len(report.misses) == 4


def test_the_split_is_a_fixed_rule_on_the_id():
    ids = [f"cc-q{n:03d}" for n in range(1, 401)]
    halves = [half_of(i) for i in ids]
    assert halves == [half_of(i) for i in ids]  # reproducible
    assert 150 < halves.count(TUNE) < 250 and set(halves) == {TUNE, CHECK}
    items = [{"id": i} for i in ids]
    tune, check = select_half(items, TUNE), select_half(items, CHECK)
    assert len(tune) + len(check) == 400 and not {t["id"] for t in tune} & {c["id"] for c in check}


def _run_eval(tmp_path: Path, *extra: str) -> str:
    result = subprocess.run(
        [sys.executable, str(REPO / "bot.py"), "faq", "eval", str(tmp_path / "set.jsonl"), *extra],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_cli_reports_both_halves_and_hides_check_half_misses(tmp_path: Path):
    # Questions written for this test; ids chosen so both halves get some.
    questions = ["量子力学是什么", "火星上有没有水", "怎么做蛋炒饭", "足球比赛几个人"]
    ids = [f"t-{n}" for n in range(40)]
    tune_id = next(i for i in ids if half_of(i) == TUNE)
    check_id = next(i for i in ids if half_of(i) == CHECK)
    rows = [
        {"id": tune_id, "question": questions[0], "in_scope": True, "articles": [1077]},
        {"id": check_id, "question": questions[1], "in_scope": True, "articles": [1077]},
    ]
    (tmp_path / "set.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    out = _run_eval(tmp_path)
    assert "== tune ==" in out and "== check ==" in out and "== all ==" in out
    assert "hit@1" in out and "top-1" in out and "hit@3" in out and "right when answered" in out
    assert questions[0] in out and tune_id in out  # tune misses may be read
    assert questions[1] not in out and check_id not in out  # check misses are only counted
    assert "counted, not shown" in out
    unblinded = _run_eval(tmp_path, "--half", "check", "--unblind-check-misses")
    assert questions[1] in unblinded

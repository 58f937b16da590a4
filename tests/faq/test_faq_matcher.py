"""The matcher on residents' own wording: a paraphrase table written for these tests (not
taken from any evaluation set), the calibrated confidence and its derived threshold, and a
property test that no text makes it raise."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faq.calibration import threshold_for_precision
from faq.matcher import ANSWERED, NONE, Matcher, Tuning
from faq.store import FaqStore

# (a resident's wording, the entries that answer it). Written by hand from everyday
# situations; an entry id that a later knowledge-base round renames must be updated here.
PARAPHRASE_TABLE = [
    ("对方把盖章合同拍照发给我，没见面签，这合同算数吗", {"ca-scanned-seal-contract"}),
    ("签合同的时候被人骗了，现在想反悔能撤销吗", {"ca-fraud-revoke", "gp-fraud"}),
    ("对方交的货有毛病，我能先压着货款不给吗", {"ca-performance-defense"}),
    ("合同里违约金写得太少了，不够我的损失，能多要吗", {"ca-penalty-too-low"}),
    ("他欠我钱不还，还把房子白送给他弟弟了，我能怎么办", {"ca-revocation-right"}),
    ("借给朋友两万块钱没写借条，就微信转的账，能要回来吗", {"ca-loan-no-iou"}),
    ("我想提前退租，房东说押金不退了，我要负什么责任", {"cb-lease-tenant-early-exit"}),
    ("租的房子能转租给别人住吗", {"cb-lease-sublet"}),
    ("衣服送干洗店被洗坏了，店里要赔吗", {"cb-repair-shop-damage"}),
    (
        "业主们想把现在的物业赶走换一家，怎么弄",
        {"cb-property-change", "pr-change-property-company"},
    ),
    ("我转账转错了账号，钱能要回来吗", {"cb-wrong-transfer"}),
    ("孩子还在肚子里，他爸爸就出车祸走了，孩子能分遗产吗", {"gp-fetus-rights"}),
    ("公司欠我货款不还，能直接找老板本人要吗", {"gp-company-debt"}),
    ("只摆了酒席没去领结婚证，算不算夫妻", {"mf-marriage-registration"}),
    ("婚前他隐瞒了自己有重病，结婚后才知道，婚姻能撤销吗", {"mf-hidden-illness"}),
    ("我在家带了十年孩子没上班，离婚能要补偿吗", {"mf-housework-compensation"}),
    ("离婚后前妻不让我见孩子怎么办", {"mf-visitation"}),
    ("我怀疑孩子不是我亲生的，能去法院告吗", {"mf-paternity-dispute"}),
    ("超市保安怀疑我偷东西，要翻我的包，他有这个权力吗", {"ps-body-search"}),
    ("有人拿我的身份证去网贷，我能怎么办", {"ps-name-fraud"}),
    ("房东趁我不在家自己开门进来了，这合法吗", {"ps-landlord-entry"}),
    ("顶楼的邻居把楼顶圈起来当自家花园，合法吗", {"pr-rooftop-occupation"}),
    ("对面邻居的空调外机正对着我家窗户吹，怎么办", {"pr-smoke-ac"}),
    ("我在路上捡到钱包还给失主，能要点酬谢吗", {"pr-finder-reward"}),
    ("车子修好了我还没付钱，修理厂就扣着车不给，合法吗", {"pr-lien-car-repair"}),
    ("老人没留遗嘱就去世了，遗产谁来继承", {"sc-legal-order"}),
    ("我爸去世前欠了一屁股债，我们做子女的要替他还吗", {"sc-debt-limit"}),
    ("奶奶得了老年痴呆以后写的遗嘱有效吗", {"sc-dementia-will"}),
    ("打篮球的时候被人撞断了胳膊，对方要赔吗", {"tt-sports-injury"}),
    ("在饭店吃饭被邻桌喝醉的人打伤了，饭店要不要负责", {"tt-third-party-attack-venue"}),
    ("被小区里的流浪狗咬了一口，找谁赔", {"tt-stray-dog"}),
    ("工地上堆的砖头倒下来砸到我了，谁负责", {"tt-pile-collapse"}),
]


@pytest.mark.parametrize(("question", "expected"), PARAPHRASE_TABLE)
def test_paraphrase_table_has_the_right_entry_in_the_first_three(
    faq_store: FaqStore, question, expected
):
    result = faq_store.matcher.match(question)
    ids = [m.entry.id for m in result.matches]
    assert set(ids[:3]) & expected, (result.status, ids)


def test_paraphrase_table_meets_the_contract_figures(faq_store: FaqStore):
    """The issue's targets on this table: top-1 >= 0.85, answered outright and right >= 0.65."""
    results = [faq_store.matcher.match(q) for q, _ in PARAPHRASE_TABLE]
    first = [
        bool(r.matches) and r.matches[0].entry.id in expected
        for r, (_, expected) in zip(results, PARAPHRASE_TABLE, strict=True)
    ]
    outright = [f and r.status == ANSWERED for f, r in zip(first, results, strict=True)]
    assert sum(first) >= 0.85 * len(PARAPHRASE_TABLE)
    assert sum(outright) >= 0.65 * len(PARAPHRASE_TABLE)


# --- calibration -----------------------------------------------------------------------
def test_the_answer_threshold_is_derived_from_held_out_phrasings(faq_store: FaqStore):
    calibration = faq_store.matcher.calibration
    assert "answer_threshold" not in Tuning.__dataclass_fields__  # no hand-set literal
    assert calibration.pairs >= 500
    derived = threshold_for_precision(
        calibration.probabilities, calibration.right, calibration.target
    )
    assert calibration.threshold == derived == faq_store.matcher.answer_threshold
    assert 0.0 < calibration.threshold < 1.0


def test_held_out_precision_at_the_threshold_meets_the_target(faq_store: FaqStore):
    calibration = faq_store.matcher.calibration
    precision, answered = calibration.held_out_precision()
    assert precision >= calibration.target == faq_store.matcher.tuning.target_precision
    assert answered >= 0.5  # the confidence is useful, not a refusal to answer


def test_a_stricter_target_derives_a_higher_threshold(faq_store: FaqStore):
    calibration = faq_store.matcher.calibration
    p, right = calibration.probabilities, calibration.right
    lower = threshold_for_precision(p, right, 0.85)
    higher = threshold_for_precision(p, right, 0.97)
    assert lower < calibration.threshold < higher


def test_threshold_for_precision_walks_down_from_the_most_confident():
    p = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5])
    right = np.array([True, True, True, False, True, False])
    assert threshold_for_precision(p, right, 1.0) == 0.8
    assert threshold_for_precision(p, right, 0.8) == 0.6  # 4 of 5 right
    assert threshold_for_precision(p, np.zeros(6, dtype=bool), 0.9) > 1.0  # never sure


def test_confidence_is_a_probability_that_rises_with_evidence(faq_store: FaqStore):
    matcher = faq_store.matcher
    clear = matcher.confidence("离婚冷静期是多少天")
    vague = matcher.confidence("合同的问题")
    assert 0.0 <= vague < clear <= 1.0


def test_a_small_knowledge_base_builds_and_calibrates(faq_store: FaqStore):
    kb = faq_store.kb
    small = replace(kb, entries=kb.entries[:60])
    matcher = Matcher(small)
    assert 0.0 < matcher.answer_threshold <= 1.0 + 1e-6
    assert matcher.match("离婚冷静期是多少天").status in ("answered", "suggest", "none")


# --- robustness ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text", ["2-1", "2.1", "2+1", "", "   ", "？？？", "第", "x" * 500, "\x00"]
)
def test_odd_inputs_get_an_answer_status_not_an_exception(faq_store: FaqStore, text):
    result = faq_store.matcher.match(text)
    assert result.status in ("none", "chitchat", "suggest", "answered", "out_of_scope")


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=120))
def test_matcher_never_raises_on_any_text(faq_store: FaqStore, text):
    result = faq_store.matcher.match(text)
    assert result.status in ("answered", "suggest", "none", "out_of_scope", "chitchat", "safety")
    assert 0.0 <= result.confidence <= 1.0
    if result.status == NONE:
        assert result.matches == ()


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(alphabet="0123456789+-.*/=() 第条元万年月日的了吗", max_size=40))
def test_matcher_never_raises_on_numbers_and_symbols(faq_store: FaqStore, text):
    faq_store.matcher.match(text)

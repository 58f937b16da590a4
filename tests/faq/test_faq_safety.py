"""Safety first, then scope: fraud in progress, domestic violence and consumer disputes get
their own message before any Civil Code answer; tax, criminal and labour questions that
mention civil words stay redirected; civil questions that mention 户口 or 低保 are answered."""

from __future__ import annotations

import pytest

from bot.testing import Harness, texts
from faq.matcher import SAFETY
from faq.store import FaqStore

FRAUD = [
    "刚才有个自称公安局的人打电话说我涉嫌洗钱，让我把钱转到安全账户",
    "有人冒充公检法说我的银行卡涉案，要我配合资金清查",
    "我刚转账给一个客服，现在发现被骗了怎么办",
    "网上刷单返利，先给了几单返现，后来让我垫付五万不退了",
    "对方说是银行客服，让我把手机收到的验证码报给他",
    "视频聊天的时候对方让我开屏幕共享，说帮我退款",
]
DOMESTIC_VIOLENCE = [
    "我老公喝了酒就打我，我该怎么办",
    "被丈夫打得住院了，想离婚",
    "家暴能不能离婚",
    "他经常打老婆，邻居能管吗",
    "儿子打我还不给饭吃",
]
CONSUMER = [
    "在网上买到假货了，商家不给退",
    "超市卖过期食品，我吃了拉肚子",
    "买的东西是三无产品，能要求赔偿吗",
    "商家虚假宣传，说是纯金的结果是镀金",
]


@pytest.mark.parametrize("question", FRAUD)
def test_fraud_in_progress_gets_110_and_96110_before_anything(faq_store: FaqStore, question):
    result = faq_store.matcher.match(question)
    assert result.status == SAFETY and result.area == "fraud"
    assert "110" in result.notice and "96110" in result.notice and "止付" in result.notice
    assert result.matches == ()  # no Civil Code answer beside an emergency


@pytest.mark.parametrize("question", DOMESTIC_VIOLENCE)
def test_domestic_violence_gets_110_and_the_protection_order(faq_store: FaqStore, question):
    result = faq_store.matcher.match(question)
    assert result.status == SAFETY and result.area == "domestic_violence"
    assert "110" in result.notice and "人身安全保护令" in result.notice
    assert "反家庭暴力法" in result.notice and "不属于《民法典》" in result.notice


@pytest.mark.parametrize("question", CONSUMER)
def test_consumer_disputes_get_12315_and_say_the_law_is_not_the_civil_code(
    faq_store: FaqStore, question
):
    result = faq_store.matcher.match(question)
    assert result.status == SAFETY and result.area == "consumer"
    assert "12315" in result.notice and "消费者权益保护法" in result.notice
    assert "不属于《民法典》" in result.notice and "五百元" in result.notice


def test_a_domestic_violence_divorce_also_offers_the_civil_code_entries(faq_store: FaqStore):
    result = faq_store.matcher.match("老公家暴，我想离婚但他不同意，怎么办")
    assert result.status == SAFETY and result.matches
    assert {1079} & {a for m in result.matches for a in m.entry.articles}


def test_chat_shows_the_safety_message_first(harness: Harness):
    replies = harness.say("zoe", FRAUD[0])
    assert replies[0].text.startswith("⚠️") and "96110" in replies[0].text
    replies = harness.say("zoe", "老公家暴，我想离婚但他不同意，怎么办")
    assert "人身安全保护令" in replies[0].text and len(replies) == 2


OUT_OF_SCOPE = [
    ("离婚后孩子的户口怎么迁到我这边", "行政"),
    ("卖掉继承来的房子要交多少税", "税务"),
    ("老婆重婚了，重婚罪怎么判", "刑事"),
    ("签了劳动合同提前辞职，公司要我付违约金", "劳动"),
    ("借钱不还的人会被判刑坐牢吗", "刑事"),
]
IN_SCOPE_MENTIONS = [
    ("我家吃低保，儿子不给赡养费怎么办", {1067}),
    ("我户口还在婆家，老公去世了，他的遗产我能继承吗", {1127}),
]


@pytest.mark.parametrize(("question", "area"), OUT_OF_SCOPE)
def test_out_of_scope_questions_with_civil_words_stay_redirected(
    faq_store: FaqStore, question, area
):
    result = faq_store.matcher.match(question)
    assert (result.status, result.area, result.matches) == ("out_of_scope", area, ())


@pytest.mark.parametrize(("question", "articles"), IN_SCOPE_MENTIONS)
def test_civil_questions_mentioning_hukou_or_dibao_are_not_refused(
    faq_store: FaqStore, question, articles
):
    result = faq_store.matcher.match(question)
    assert result.status in ("answered", "suggest"), result.status
    assert articles & {a for m in result.matches for a in m.entry.articles}


def test_out_of_scope_chat_reply_names_the_hotline(harness: Harness):
    assert "12366" in texts(harness.say("amy", OUT_OF_SCOPE[1][0]))


NOT_EMERGENCIES = [
    "朋友找我借了两万块钱一直不还，我感觉被他骗了",
    "被人骗着签了合同能撤销吗",
    "老公打牌输了钱欠了债，我要还吗",
    "网购买到的衣服质量不好能退吗",
]


@pytest.mark.parametrize("question", NOT_EMERGENCIES)
def test_civil_questions_with_alarming_words_are_not_emergencies(faq_store: FaqStore, question):
    result = faq_store.matcher.match(question)
    assert result.status in ("answered", "suggest"), (result.status, result.area)

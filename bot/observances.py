"""The publicity calendar: well-known observance days with a ready-made notice each.

Named `observances` rather than `calendar` so it can never shadow the standard library's
`calendar` module. Only fixed, well-established dates are listed; staff turn one into a
scheduled campaign with `/campaign <key>` or `python bot.py campaign add <key>`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

CAMPAIGN_TIME = "09:00"


@dataclass(frozen=True)
class Observance:
    key: str  # MMDD
    month: int
    day: int
    name: str
    topic: str | None  # the subscription topic it suits (None: all subscribers)
    text: str

    def next_time(self, now: datetime, zone: ZoneInfo, at: str = CAMPAIGN_TIME) -> datetime:
        """The next occurrence at `at` (local), as aware UTC, strictly after `now`."""
        hour, minute = (int(part) for part in at.split(":"))
        local_year = now.astimezone(zone).year
        for year in (local_year, local_year + 1):
            moment = datetime.combine(
                datetime(year, self.month, self.day).date(), time(hour, minute), tzinfo=zone
            ).astimezone(UTC)
            if moment > now:
                return moment
        raise AssertionError("unreachable: next year is always later")


OBSERVANCES: tuple[Observance, ...] = (
    Observance(
        "0308",
        3,
        8,
        "“三八”国际妇女节",
        "妇女儿童权益",
        "今天是“三八”国际妇女节。《民法典》规定，婚姻家庭受国家保护，实行男女平等，"
        "保护妇女、未成年人、老年人、残疾人的合法权益（第1041条）；禁止家庭暴力（第1042条）；"
        "夫妻在婚姻家庭中地位平等（第1055条）。遇到家庭暴力，请拨打 110 报警，"
        "也可以向居委会、妇联求助，或咨询街道法律顾问。",
    ),
    Observance(
        "0315",
        3,
        15,
        "国际消费者权益日",
        "民法典",
        "今天是 3·15 国际消费者权益日。《民法典》规定，当事人应当按照约定全面履行自己的义务"
        "（第509条）。买到假冒伪劣商品或遇到虚假宣传，请保存好购物凭证、聊天记录等证据，"
        "先与商家协商；协商不成，可以拨打 12315 投诉举报，也可以咨询街道法律顾问。",
    ),
    Observance(
        "0415",
        4,
        15,
        "全民国家安全教育日",
        None,
        "今天是全民国家安全教育日。维护国家安全是每个公民的责任和义务。"
        "发现危害国家安全的可疑情况，可以拨打国家安全机关举报受理电话 12339。",
    ),
    Observance(
        "0501",
        5,
        1,
        "民法典宣传月（5月）",
        "民法典",
        "5月是“民法典宣传月”。《民法典》自2021年1月1日起施行，被称为“社会生活的百科全书”，"
        "买房租房、婚姻家庭、继承、邻里关系都离不开它。有问题可以直接向本助手提问，"
        "例如“房东不退押金怎么办”。",
    ),
    Observance(
        "0601",
        6,
        1,
        "六一国际儿童节",
        "妇女儿童权益",
        "今天是六一国际儿童节。《民法典》规定，不满八周岁的未成年人为无民事行为能力人（第20条），"
        "父母是未成年子女的监护人（第27条）。保护未成年人，从家庭做起；"
        "发现侵害未成年人的情况，请及时拨打 110 报警。",
    ),
    Observance(
        "0626",
        6,
        26,
        "国际禁毒日",
        "平安建设",
        "今天是国际禁毒日。毒品危害个人、家庭和社会，请远离毒品，"
        "不要轻信“提神”“减肥”等说法尝试来历不明的物品。发现涉毒线索，请拨打 110 举报。",
    ),
    Observance(
        "1109",
        11,
        9,
        "全国消防日",
        "平安建设",
        "今天是全国消防日（11·9）。请检查家中电线和燃气，不在楼道堆放杂物，"
        "不把电动自行车推进楼道或家中充电，保持消防通道畅通。发生火灾请立即拨打 119。",
    ),
    Observance(
        "1202",
        12,
        2,
        "全国交通安全日",
        "平安建设",
        "今天是全国交通安全日。出行请遵守交通信号，骑电动自行车佩戴安全头盔，"
        "不酒后驾驶。发生交通事故，请保护好现场并及时报警（122）。",
    ),
    Observance(
        "1204",
        12,
        4,
        "国家宪法日",
        "宪法",
        "今天是国家宪法日，也是全国法制宣传日。宪法是国家的根本法，具有最高的法律效力。"
        "尊崇宪法、学习宪法、遵守宪法、维护宪法、运用宪法，从我做起。",
    ),
)

BY_KEY = {o.key: o for o in OBSERVANCES}


def find(text: str) -> Observance | None:
    """An observance by key or date ('0315', '315', '3·15', '3-15', '3月15日') or by name."""
    text = unicodedata.normalize("NFKC", text).strip()
    if not text:
        return None
    if re.fullmatch(r"\d{3,4}", text):
        return BY_KEY.get(text.zfill(4))
    numbers = re.fullmatch(r"(\d{1,2})\s*(?:[·.\-/月]\s*(\d{1,2})?\s*日?)?", text)
    if numbers:
        month, day = int(numbers.group(1)), int(numbers.group(2) or 1)  # a bare month: day 1
        return BY_KEY.get(f"{month:02d}{day:02d}")
    matches = [o for o in OBSERVANCES if text in o.name]
    return matches[0] if len(matches) == 1 else None


def upcoming(now: datetime, zone: ZoneInfo) -> list[tuple[Observance, datetime]]:
    """Every observance with its next occurrence, soonest first."""
    return sorted(((o, o.next_time(now, zone)) for o in OBSERVANCES), key=lambda item: item[1])

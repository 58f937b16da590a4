"""Loading and validating the knowledge base (YAML files under faq/data/)."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from faq.yamlfile import parse as parse_yaml

DATA_DIR = Path(__file__).with_name("data")
BOOKS = ("总则", "物权", "合同", "人格权", "婚姻家庭", "继承", "侵权责任")
ARTICLE_RANGE = range(1, 1261)
MAX_ANSWER_CHARS = 520
MIN_PHRASINGS = 3
# The resident-facing format (issue 12): an answer whose first line is the conclusion in one
# sentence, a one-line next step, and at least 12 phrasings of which 4 long narratives and 2
# short ones. An entry that has `next_step` is in that format and must meet all of it.
NEW_FORMAT_PHRASINGS = 12
LONG_PHRASING_CHARS = 40
MIN_LONG_PHRASINGS = 4
SHORT_PHRASING_CHARS = 12
MIN_SHORT_PHRASINGS = 2
MAX_CONCLUSION_CHARS = 60
MAX_NEXT_STEP_CHARS = 120
# Every entry must have `next_step` (the migration of all books to the resident-facing
# format is complete). Set to False only to let a half-migrated folder load with warnings.
REQUIRE_NEXT_STEP = True
# A reload that would drop more than this share of the entries in service is refused
# unless forced (a half-saved or truncated file must not take answers away).
MAX_RELOAD_DROP = 0.10
ENTRY_FIELDS = (
    "id",
    "topic",
    "question",
    "phrasings",
    "keywords",
    "answer",
    "articles",
    "reviewed",
)
ARTICLE_MENTION = re.compile(
    r"(?:《(?P<law>[^》]{1,24})》)?\s*第\s*(?P<number>[0-9零〇一二两三四五六七八九十百千]+)\s*条"
)
SENTENCE_END = re.compile(r"[。！？!?]")
ID_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


class KBError(Exception):
    """The knowledge base did not validate; `errors` lists every problem found."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(f"{len(errors)} 个问题：" + "；".join(errors[:5]))
        self.errors = errors


class ReloadRefused(KBError):
    """A reload would drop too many entries; retry with force to accept it."""


@dataclass(frozen=True)
class Entry:
    id: str
    book: str
    topic: str
    question: str
    phrasings: tuple[str, ...]
    keywords: tuple[str, ...]
    answer: str
    articles: tuple[int, ...]
    reviewed: dt.date
    source: str = ""
    next_step: str = ""

    @property
    def conclusion(self) -> str:
        """The answer's first line: the conclusion in one sentence."""
        return self.answer.split("\n", 1)[0].strip()

    @property
    def detail_lines(self) -> tuple[str, ...]:
        """The short lines after the conclusion."""
        return tuple(line.strip() for line in self.answer.split("\n")[1:] if line.strip())

    @property
    def texts(self) -> tuple[str, ...]:
        """The canonical question and every phrasing: what a resident may type."""
        return (self.question, *self.phrasings)


@dataclass
class KnowledgeBase:
    entries: tuple[Entry, ...]
    vocabulary: dict[str, tuple[str, ...]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    by_id: dict[str, Entry] = field(init=False)
    by_article: dict[int, tuple[Entry, ...]] = field(init=False)

    def __post_init__(self) -> None:
        self.by_id = {e.id: e for e in self.entries}
        cited: dict[int, list[Entry]] = defaultdict(list)
        for entry in self.entries:
            for article in entry.articles:
                cited[article].append(entry)
        self.by_article = {k: tuple(v) for k, v in cited.items()}

    def __len__(self) -> int:
        return len(self.entries)

    def books(self) -> list[str]:
        present = {e.book for e in self.entries}
        return [b for b in BOOKS if b in present]

    def topics(self, book: str) -> list[str]:
        seen: dict[str, None] = {}
        for entry in self.entries:
            if entry.book == book:
                seen.setdefault(entry.topic, None)
        return list(seen)

    def in_topic(self, book: str, topic: str) -> list[Entry]:
        return [e for e in self.entries if e.book == book and e.topic == topic]


def normalize_phrase(text: str) -> str:
    """Loose form used to spot duplicate phrasings: width-folded, no punctuation or spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if ch.isalnum())


def load_kb(data_dir: Path | str = DATA_DIR) -> KnowledgeBase:
    """Load and validate every file; raise KBError listing all problems."""
    data_dir = Path(data_dir)
    errors: list[str] = []
    warnings: list[str] = []
    entries = _load_entries(data_dir / "kb", errors, warnings)
    vocabulary = _load_vocabulary(data_dir / "vocab", errors)
    _check_duplicates(entries, errors)
    if not entries and not errors:
        errors.append(f"{data_dir / 'kb'}：没有找到任何问答条目")
    if errors:
        raise KBError(errors)
    return KnowledgeBase(tuple(entries), vocabulary, tuple(warnings))


def check(data_dir: Path | str = DATA_DIR) -> list[str]:
    """Every problem in the knowledge base, or an empty list."""
    try:
        load_kb(data_dir)
    except KBError as exc:
        return exc.errors
    return []


def _read_yaml(path: Path, errors: list[str]) -> object:
    try:
        return parse_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        errors.append(f"{path.name}：无法读取（{str(exc).splitlines()[0]}）")
        return None


def _load_entries(folder: Path, errors: list[str], warnings: list[str]) -> list[Entry]:
    entries: list[Entry] = []
    for path in sorted(folder.glob("*.yaml")):
        document = _read_yaml(path, errors)
        if document is None:
            if _is_blank(path):
                errors.append(f"{path.name}：文件是空的（整编问答不能为空，删除文件请走评审）")
            continue
        if not isinstance(document, dict) or not isinstance(document.get("entries"), list):
            errors.append(f"{path.name}：顶层应有 book 和 entries 列表")
            continue
        if not document["entries"]:
            errors.append(f"{path.name}：entries 是空列表（整编问答不能为空）")
            continue
        book = document.get("book")
        if book not in BOOKS:
            errors.append(f"{path.name}：book 应为 {'、'.join(BOOKS)} 之一，而不是 {book!r}")
            continue
        for number, raw in enumerate(document["entries"], 1):
            entry = _parse_entry(raw, book, f"{path.name} 第{number}条", errors, warnings)
            if entry is not None:
                entries.append(entry)
    return entries


def _is_blank(path: Path) -> bool:
    try:
        return not path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return False


def _parse_entry(
    raw: object, book: str, where: str, errors: list[str], warnings: list[str]
) -> Entry | None:
    if not isinstance(raw, dict):
        errors.append(f"{where}：应为一个映射")
        return None
    missing = [name for name in ENTRY_FIELDS if name not in raw]
    if missing:
        errors.append(f"{where}（{raw.get('id', '?')}）：缺少字段 {', '.join(missing)}")
        return None
    entry_id = str(raw["id"])
    where = f"{where}（{entry_id}）"
    problems: list[str] = []
    if not ID_PATTERN.fullmatch(entry_id):
        problems.append("id 只能用小写字母、数字和连字符")
    texts = [raw["question"], *(raw["phrasings"] or [])]
    if not all(isinstance(t, str) and t.strip() for t in texts):
        problems.append("question 和 phrasings 必须是非空文字")
    if len(raw["phrasings"] or []) < MIN_PHRASINGS:
        problems.append(f"phrasings 至少需要 {MIN_PHRASINGS} 个")
    answer = raw["answer"]
    if not isinstance(answer, str) or not answer.strip():
        problems.append("answer 不能为空")
    elif len(answer.strip()) > MAX_ANSWER_CHARS:
        problems.append(f"answer 有 {len(answer.strip())} 字，超过 {MAX_ANSWER_CHARS} 字")
    articles = raw["articles"]
    if not isinstance(articles, list) or not articles:
        problems.append("articles 应为非空的条号列表")
        articles = []
    bad = [a for a in articles if not isinstance(a, int) or a not in ARTICLE_RANGE]
    if bad:
        problems.append(f"条号 {bad} 不在 1..1260 之间")
    if not isinstance(raw["reviewed"], dt.date):
        problems.append("reviewed 应为日期 YYYY-MM-DD")
    keywords = raw["keywords"] or []
    if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
        problems.append("keywords 应为文字列表")
    next_step = raw.get("next_step")
    # Entries in the new format (with next_step) must meet all of it; the others are
    # warned until REQUIRE_NEXT_STEP turns the migration's end into a rule.
    new_format = next_step is not None or REQUIRE_NEXT_STEP
    found = problems if new_format else []
    if next_step is None:
        found.append("缺少 next_step（下一步怎么办，一行）")
    elif not problems:
        found.extend(_format_problems(raw, next_step))
    if isinstance(answer, str) and isinstance(articles, list):
        found.extend(_uncited_mentions(answer, next_step, articles))
    if not new_format:
        warnings.extend(f"{where}：{p}" for p in found)
    if problems:
        errors.extend(f"{where}：{p}" for p in problems)
        return None
    return Entry(
        id=entry_id,
        book=book,
        topic=str(raw["topic"]),
        question=raw["question"].strip(),
        phrasings=tuple(p.strip() for p in raw["phrasings"]),
        keywords=tuple(k.strip() for k in keywords),
        answer=answer.strip(),
        articles=tuple(articles),
        reviewed=raw["reviewed"],
        source=where,
        next_step=next_step.strip() if isinstance(next_step, str) else "",
    )


def _format_problems(raw: dict, next_step: object) -> list[str]:
    """The resident-facing format's rules, for an entry that has `next_step`."""
    problems = []
    if not isinstance(next_step, str) or not next_step.strip() or "\n" in next_step.strip():
        problems.append("next_step 应为一行非空文字")
    elif len(next_step.strip()) > MAX_NEXT_STEP_CHARS:
        problems.append(f"next_step 超过 {MAX_NEXT_STEP_CHARS} 字")
    phrasings = [p.strip() for p in raw["phrasings"]]
    if len(phrasings) < NEW_FORMAT_PHRASINGS:
        problems.append(f"phrasings 有 {len(phrasings)} 个，至少需要 {NEW_FORMAT_PHRASINGS} 个")
    long = sum(len(p) >= LONG_PHRASING_CHARS for p in phrasings)
    if long < MIN_LONG_PHRASINGS:
        problems.append(
            f"长问法（≥{LONG_PHRASING_CHARS} 字）有 {long} 个，至少需要 {MIN_LONG_PHRASINGS} 个"
        )
    short = sum(len(p) <= SHORT_PHRASING_CHARS for p in phrasings)
    if short < MIN_SHORT_PHRASINGS:
        problems.append(
            f"短问法（≤{SHORT_PHRASING_CHARS} 字）有 {short} 个，至少需要 {MIN_SHORT_PHRASINGS} 个"
        )
    problems.extend(_conclusion_problems(raw["answer"].strip()))
    return problems


def _conclusion_problems(answer: str) -> list[str]:
    lines = answer.split("\n")
    conclusion = lines[0].strip()
    if len(lines) < 2:
        return ["answer 第一行应为一句话结论，后面再分行说明"]
    if len(conclusion) > MAX_CONCLUSION_CHARS:
        return [f"answer 第一行（结论）有 {len(conclusion)} 字，超过 {MAX_CONCLUSION_CHARS} 字"]
    return []


def _uncited_mentions(answer: str, next_step: object, articles: list) -> list[str]:
    """第N条 of the Civil Code that the text mentions but `articles` does not list."""
    text = answer + "\n" + (next_step if isinstance(next_step, str) else "")
    missing: list[int] = []
    law, last_end = "民法典", 0
    for mention in ARTICLE_MENTION.finditer(text):
        if mention.group("law"):
            law = mention.group("law")
        elif SENTENCE_END.search(text[last_end : mention.start()]) or last_end == 0:
            law = "民法典"
        last_end = mention.end()
        number = article_number(mention.group("number"))
        if law == "民法典" and number is not None and number not in articles:
            missing.append(number)
    if not missing:
        return []
    listed = "、".join(f"第{n}条" for n in dict.fromkeys(missing))
    return [f"回答提到了{listed}，但 articles 里没有列出"]


CHINESE_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
CHINESE_UNITS = {"十": 10, "百": 100, "千": 1000}


def article_number(text: str) -> int | None:
    """An article number written in Arabic digits or Chinese numerals (一千零七十七)."""
    if text.isdigit():
        return int(text)
    total, digit = 0, None
    for char in text:
        if char in CHINESE_DIGITS:
            digit = CHINESE_DIGITS[char]
        elif char in CHINESE_UNITS:
            total += (1 if digit is None else digit) * CHINESE_UNITS[char]
            digit = None
        else:
            return None
    return total + (digit or 0)


def _check_duplicates(entries: list[Entry], errors: list[str]) -> None:
    seen_ids: set[str] = set()
    seen_texts: dict[str, str] = {}
    for entry in entries:
        if entry.id in seen_ids:
            errors.append(f"{entry.source}：id 重复")
        seen_ids.add(entry.id)
        for text in entry.texts:
            key = normalize_phrase(text)
            other = seen_texts.get(key)
            if other is not None and other != entry.id:
                errors.append(f"{entry.source}：问法“{text}”与 {other} 重复")
            elif other == entry.id:
                errors.append(f"{entry.source}：问法“{text}”在本条内重复")
            seen_texts[key] = entry.id


def _load_vocabulary(folder: Path, errors: list[str]) -> dict[str, tuple[str, ...]]:
    vocabulary: dict[str, list[str]] = defaultdict(list)
    for path in sorted(folder.glob("*.yaml")):
        document = _read_yaml(path, errors)
        if document is None:
            continue
        if not isinstance(document, dict):
            errors.append(f"{path.name}：应为“口语词: [法律用语, ...]”的映射")
            continue
        for key, terms in document.items():
            if isinstance(terms, str):
                terms = [terms]
            if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
                errors.append(f"{path.name}：“{key}”的值应为文字列表")
                continue
            for term in terms:
                if term not in vocabulary[str(key)]:
                    vocabulary[str(key)].append(term)
    return {k: tuple(v) for k, v in vocabulary.items()}

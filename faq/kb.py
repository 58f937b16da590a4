"""Loading and validating the knowledge base (YAML files under faq/data/)."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DATA_DIR = Path(__file__).with_name("data")
BOOKS = ("总则", "物权", "合同", "人格权", "婚姻家庭", "继承", "侵权责任")
ARTICLE_RANGE = range(1, 1261)
MAX_ANSWER_CHARS = 520
MIN_PHRASINGS = 3
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
ID_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


class KBError(Exception):
    """The knowledge base did not validate; `errors` lists every problem found."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(f"{len(errors)} 个问题：" + "；".join(errors[:5]))
        self.errors = errors


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

    @property
    def texts(self) -> tuple[str, ...]:
        """The canonical question and every phrasing: what a resident may type."""
        return (self.question, *self.phrasings)


@dataclass
class KnowledgeBase:
    entries: tuple[Entry, ...]
    vocabulary: dict[str, tuple[str, ...]] = field(default_factory=dict)
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
    entries = _load_entries(data_dir / "kb", errors)
    vocabulary = _load_vocabulary(data_dir / "vocab", errors)
    _check_duplicates(entries, errors)
    if not entries and not errors:
        errors.append(f"{data_dir / 'kb'}：没有找到任何问答条目")
    if errors:
        raise KBError(errors)
    return KnowledgeBase(tuple(entries), vocabulary)


def check(data_dir: Path | str = DATA_DIR) -> list[str]:
    """Every problem in the knowledge base, or an empty list."""
    try:
        load_kb(data_dir)
    except KBError as exc:
        return exc.errors
    return []


def _read_yaml(path: Path, errors: list[str]) -> object:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        errors.append(f"{path.name}：无法读取（{str(exc).splitlines()[0]}）")
        return None


def _load_entries(folder: Path, errors: list[str]) -> list[Entry]:
    entries: list[Entry] = []
    for path in sorted(folder.glob("*.yaml")):
        document = _read_yaml(path, errors)
        if document is None:
            continue
        if not isinstance(document, dict) or not isinstance(document.get("entries"), list):
            errors.append(f"{path.name}：顶层应有 book 和 entries 列表")
            continue
        book = document.get("book")
        if book not in BOOKS:
            errors.append(f"{path.name}：book 应为 {'、'.join(BOOKS)} 之一，而不是 {book!r}")
            continue
        for number, raw in enumerate(document["entries"], 1):
            entry = _parse_entry(raw, book, f"{path.name} 第{number}条", errors)
            if entry is not None:
                entries.append(entry)
    return entries


def _parse_entry(raw: object, book: str, where: str, errors: list[str]) -> Entry | None:
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
    )


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

"""Normalizing and segmenting residents' Chinese questions.

Residents write long, noisy questions ("您好律师，我想咨询一下……"); the legal core is a
few words inside. We fold widths, drop masks and filler, cut with jieba using a user
dictionary of the knowledge base's own terms (jieba does not know 居住权, 代位继承 …), and
add the legal terms that the colloquial → legal vocabulary maps to.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import unicodedata
from collections.abc import Iterable

import jieba

jieba.setLogLevel(logging.WARNING)

# Filler that carries no legal meaning; removed before matching.
FILLER = re.compile(
    r"请问一下|请问|您好|你好|律师|老师|咨询一下|想咨询|咨询|我想问一下|我想问|想问一下|想问|问一下|"
    r"谢谢你|谢谢|麻烦|帮忙解答|在线等|急急急|急|求助|求解答|求解|各位|大神|"
    r"[xX×＊*]{1,}|[a-zA-Z]\b"
)
STOPWORDS = frozenset(
    [
        "的",
        "了",
        "吗",
        "呢",
        "啊",
        "吧",
        "呀",
        "哦",
        "么",
        "嘛",
        "着",
        "过",
        "我",
        "我们",
        "你",
        "你们",
        "他",
        "她",
        "它",
        "他们",
        "她们",
        "是",
        "在",
        "有",
        "和",
        "与",
        "及",
        "就",
        "都",
        "也",
        "还",
        "又",
        "要",
        "会",
        "能",
        "该",
        "可以",
        "可",
        "怎么",
        "怎么办",
        "怎样",
        "如何",
        "什么",
        "为什么",
        "哪",
        "哪些",
        "哪个",
        "多少",
        "几",
        "这",
        "那",
        "这个",
        "那个",
        "这样",
        "那样",
        "一个",
        "一下",
        "现在",
        "然后",
        "但是",
        "但",
        "而且",
        "如果",
        "因为",
        "所以",
        "或者",
        "还是",
        "请",
        "请问",
        "吧",
        "被",
        "把",
        "给",
        "对",
        "从",
        "到",
        "让",
        "于",
        "自己",
        "已经",
        "没",
        "不",
        "很",
        "非常",
        "之",
        "其",
        "等",
        "应该",
        "应当",
        "需要",
        "是否",
        "是不是",
        "有没有",
        "能不能",
        "可不可以",
        "情况",
        "问题",
        "事情",
        "时候",
        "一些",
        "知道",
        "觉得",
        "想",
        "说",
        "里",
        "上",
        "下",
        "中",
        "后",
        "前",
    ]
)
PUNCTUATION = re.compile(r"[^\w]+", re.UNICODE)


def normalize(text: str) -> str:
    """Width-folded, lower-case text without masks, filler or punctuation runs."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = FILLER.sub(" ", text)
    return PUNCTUATION.sub(" ", text).strip()


_BASE: jieba.Tokenizer | None = None
_BASE_LOCK = threading.Lock()


def _base_dictionary() -> jieba.Tokenizer:
    """jieba's own dictionary, loaded once per process (about a second to load)."""
    global _BASE
    with _BASE_LOCK:
        if _BASE is None:
            _BASE = jieba.Tokenizer()
            _BASE.tmp_dir = cache_dir()
            _BASE.initialize()
        return _BASE


def cache_dir() -> str:
    """A folder of this user's own for jieba's dictionary cache. jieba's default is one file
    in the shared temp folder; when another user made it, jieba cannot replace it and prints
    a traceback on every start."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    for folder in (os.path.join(base, "pufa-bot"), _own_temp_folder()):
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            return folder
    return tempfile.mkdtemp(prefix="pufa-jieba-")


def _own_temp_folder() -> str:
    user = os.getuid() if hasattr(os, "getuid") else os.getlogin()
    return os.path.join(tempfile.gettempdir(), f"pufa-bot-{user}")


class Segmenter:
    """A jieba tokenizer of its own (no global state) that knows the given terms."""

    def __init__(self, terms: Iterable[str]) -> None:
        base = _base_dictionary()
        self._jieba = jieba.Tokenizer()
        self._jieba.FREQ, self._jieba.total = dict(base.FREQ), base.total
        self._jieba.initialized = True
        for term in sorted(set(terms)):
            term = normalize(term).replace(" ", "")
            if len(term) >= 2:
                self._jieba.add_word(term, freq=200_000)

    def words(self, text: str) -> list[str]:
        """Content words of already-normalized text, in order."""
        out = []
        for word in self._jieba.cut(text, HMM=True):
            word = word.strip()
            if word and word not in STOPWORDS and not word.isdigit():
                out.append(word)
        return out


def bigrams(text: str) -> list[str]:
    """Character bigrams inside each run of normalized text (robust to odd cuts and typos)."""
    grams: list[str] = []
    for run in text.split():
        grams.extend(run[i : i + 2] for i in range(len(run) - 1))
    return grams

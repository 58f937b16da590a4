"""Ranking knowledge-base entries for a resident's question, with a confidence.

Two signals, fused:
1. BM25 over each entry's words (question, phrasings, keywords, each expanded through the
   colloquial → legal vocabulary), on jieba words and on character bigrams. This finds the
   legal core inside long, noisy questions.
2. rapidfuzz over the best few candidates' phrasings (segmented first, since rapidfuzz's
   token scorers split on spaces), rewarding a phrasing that reads like the question.

The fused score decides: answered (confident), suggest (top 3 as choices) or none. A
separate scope signal (faq.scope) recognizes criminal / labour / administrative / tax
questions and chit-chat before any civil answer is given.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz

from faq.kb import Entry, KnowledgeBase
from faq.scope import CHITCHAT, ScopeRules
from faq.text import Segmenter, bigrams, normalize

ANSWERED, SUGGEST, NONE, OUT_OF_SCOPE, CHITCHAT_STATUS = (
    "answered",
    "suggest",
    "none",
    "out_of_scope",
    "chitchat",
)


@dataclass(frozen=True)
class Match:
    entry: Entry
    score: float


@dataclass(frozen=True)
class MatchResult:
    question: str
    status: str
    matches: tuple[Match, ...] = ()
    area: str | None = None  # for out_of_scope / chitchat: which area

    @property
    def best(self) -> Match | None:
        return self.matches[0] if self.matches else None


@dataclass(frozen=True)
class Tuning:
    """Weights and thresholds, tuned on the dev set (see `python bot.py faq eval`)."""

    k1: float = 1.2
    b: float = 0.5
    keyword_boost: int = 2
    word_weight: float = 0.6
    bigram_weight: float = 0.4
    fuzz_weight: float = 0.35
    candidates: int = 30
    answer_threshold: float = 0.55
    suggest_threshold: float = 0.30
    margin: float = 0.08


class _BM25:
    """BM25 over entries with postings as numpy arrays (fast at 100x the real size)."""

    def __init__(self, documents: list[Counter], k1: float, b: float) -> None:
        self.size = len(documents)
        lengths = np.array([sum(d.values()) for d in documents], dtype=np.float32)
        average = float(lengths.mean()) if self.size else 1.0
        frequency: Counter = Counter()
        for document in documents:
            frequency.update(document.keys())
        postings: dict[str, tuple[list[int], list[float]]] = {}
        for index, document in enumerate(documents):
            norm = k1 * (1 - b + b * lengths[index] / average)
            for token, tf in document.items():
                docs, weights = postings.setdefault(token, ([], []))
                docs.append(index)
                weights.append(tf * (k1 + 1) / (tf + norm))
        self.idf = {
            t: math.log(1 + (self.size - n + 0.5) / (n + 0.5)) for t, n in frequency.items()
        }
        self.postings = {
            t: (np.array(d, dtype=np.int32), np.array(w, dtype=np.float32) * self.idf[t])
            for t, (d, w) in postings.items()
        }

    def scores(self, tokens: list[str]) -> np.ndarray:
        total = np.zeros(self.size, dtype=np.float32)
        for token in set(tokens):
            posting = self.postings.get(token)
            if posting is not None:
                total[posting[0]] += posting[1]
        return total


class Matcher:
    def __init__(
        self, kb: KnowledgeBase, scope: ScopeRules | None = None, tuning: Tuning | None = None
    ) -> None:
        self.kb = kb
        self.scope = scope or ScopeRules.load()
        self.tuning = tuning or Tuning()
        self.vocabulary = sorted(kb.vocabulary.items(), key=lambda kv: -len(kv[0]))
        terms = [t for e in kb.entries for t in (*e.keywords, e.topic)]
        terms += [k for k, _ in self.vocabulary] + [v for _, vs in self.vocabulary for v in vs]
        self.segmenter = Segmenter(terms)
        self._build()

    # --- index ---------------------------------------------------------------------------
    def _build(self) -> None:
        t = self.tuning
        word_docs, gram_docs = [], []
        self._texts: list[list[str]] = []
        for entry in self.kb.entries:
            words: Counter = Counter()
            grams: Counter = Counter()
            segmented = []
            for text in entry.texts:
                norm = self._expand(normalize(text))
                tokens = self.segmenter.words(norm)
                words.update(set(tokens))
                grams.update(set(bigrams(norm)))
                segmented.append(" ".join(tokens))
            for keyword in (*entry.keywords, entry.topic):
                norm = normalize(keyword)
                for _ in range(t.keyword_boost):
                    words.update(self.segmenter.words(norm) + [norm.replace(" ", "")])
                    grams.update(bigrams(norm))
            word_docs.append(words)
            gram_docs.append(grams)
            self._texts.append(segmented)
        self._words = _BM25(word_docs, t.k1, t.b)
        self._grams = _BM25(gram_docs, t.k1, t.b)

    def _expand(self, norm: str) -> str:
        """Append the legal terms that colloquial words in the text map to."""
        extra = [" ".join(terms) for key, terms in self.vocabulary if key in norm]
        return f"{norm} {' '.join(extra)}" if extra else norm

    # --- querying --------------------------------------------------------------------------
    def rank(self, question: str, limit: int = 3) -> list[Match]:
        """Entries best first with a fused score in [0, 1]."""
        norm = self._expand(normalize(question))
        words = self.segmenter.words(norm)
        if not words:
            return []
        t = self.tuning
        word_scores = self._words.scores(words)
        gram_scores = self._grams.scores(bigrams(norm))
        word_ceiling = sum(self._words.idf.get(w, 0.0) for w in set(words)) or 1.0
        gram_ceiling = sum(self._grams.idf.get(g, 0.0) for g in set(bigrams(norm))) or 1.0
        fused = (
            t.word_weight * word_scores / word_ceiling
            + t.bigram_weight * gram_scores / gram_ceiling
        )
        count = min(t.candidates, len(fused))
        if count == 0:
            return []
        top = np.argpartition(-fused, count - 1)[:count]
        query = " ".join(words)
        results = []
        for index in top:
            if fused[index] <= 0:
                continue
            similarity = max(fuzz.token_set_ratio(query, text) for text in self._texts[index]) / 100
            score = (1 - t.fuzz_weight) * min(1.0, fused[index] * 2.2) + t.fuzz_weight * similarity
            results.append(Match(self.kb.entries[index], round(float(score), 4)))
        results.sort(key=lambda m: -m.score)
        return results[:limit]

    def match(self, question: str) -> MatchResult:
        """Decide what to do with a question: answer, suggest, redirect or admit ignorance."""
        t = self.tuning
        lowered = normalize(question).replace(" ", "") or question.strip().lower()
        signal = self.scope.signal(lowered)
        matches = self.rank(question)
        best = matches[0].score if matches else 0.0
        if signal.area == CHITCHAT and not signal.civil and best < t.answer_threshold:
            return MatchResult(question, CHITCHAT_STATUS, (), CHITCHAT)
        refuse = signal.strong or (not signal.civil and best < t.answer_threshold)
        if signal.area and signal.area != CHITCHAT and refuse:
            return MatchResult(question, OUT_OF_SCOPE, (), signal.area)
        if best >= t.answer_threshold and (
            len(matches) == 1 or best - matches[1].score >= t.margin
        ):
            return MatchResult(question, ANSWERED, tuple(matches))
        if best >= t.suggest_threshold:
            return MatchResult(question, SUGGEST, tuple(matches))
        return MatchResult(question, NONE, ())

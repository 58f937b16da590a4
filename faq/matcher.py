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
from rapidfuzz import fuzz, process

from faq.kb import Entry, KnowledgeBase
from faq.scope import CHITCHAT, ScopeRules
from faq.text import Segmenter, bigrams, normalize

# Bigrams of everyday words that also occur inside legal terms; they do not make a
# question a legal one.
GENERIC_BIGRAMS = frozenset(
    "什么 怎么 怎样 如何 可以 能不 不能 是否 一个 一下 这个 那个 没有 还是 自己 我们 他们 你们 现在"
    " 今天 明天 昨天 时候 知道 应该 需要 问题 情况 事情 要求 已经 但是 因为 所以 如果 或者 不是 就是"
    " 有没 多少 哪里 怎么办 一般 会不 不会 还能 能否 谁的 的人 了吗 了没 好的 意思 东西 好看".split()
)

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

    k1: float = 2.0
    b: float = 0.5
    keyword_boost: int = 2
    word_weight: float = 0.3
    bigram_weight: float = 0.7
    fuzz_weight: float = 0.0
    candidates: int = 30
    answer_threshold: float = 0.55
    suggest_threshold: float = 0.30
    margin: float = 0.08
    expansion_weight: float = 0.3
    bm25_scale: float = 1.2
    min_term_entries: int = 5


def _occurs_in_at_least(term: str, documents: list[str], count: int) -> bool:
    """Whether `term` occurs in `count` documents (stops as soon as it does)."""
    found = 0
    for document in documents:
        if term in document:
            found += 1
            if found >= count:
                return True
    return False


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

    def scores(self, weights: dict[str, float]) -> np.ndarray:
        """Each entry's score for query tokens with their weights."""
        total = np.zeros(self.size, dtype=np.float32)
        for token, weight in weights.items():
            posting = self.postings.get(token)
            if posting is not None:
                total[posting[0]] += weight * posting[1]
        return total

    def ceiling(self, weights: dict[str, float]) -> float:
        """The IDF mass of the query: what a document holding every token would reach."""
        return sum(w * self.idf.get(t, 0.0) for t, w in weights.items()) or 1.0


class Matcher:
    def __init__(
        self, kb: KnowledgeBase, scope: ScopeRules | None = None, tuning: Tuning | None = None
    ) -> None:
        self.kb = kb
        self.scope = scope or ScopeRules.load()
        self.tuning = tuning or Tuning()
        self.vocabulary = self._shared_vocabulary(kb)
        terms = [t for e in kb.entries for t in (*e.keywords, e.topic)]
        terms += [k for k, _ in self.vocabulary] + [v for _, vs in self.vocabulary for v in vs]
        self.segmenter = Segmenter(terms)
        self._lexicon = self._build_lexicon()
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
                norm = normalize(text)
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

    def _shared_vocabulary(self, kb: KnowledgeBase) -> list[tuple[str, tuple[str, ...]]]:
        """The vocabulary mappings whose legal terms are shared by several entries.

        A colloquial word expanded to a term that only one entry uses would route every
        question containing that word to that entry; only terms common to at least
        `tuning.min_term_entries` entries widen recall without such hidden routing."""
        documents = [
            normalize(" ".join((*e.texts, *e.keywords))).replace(" ", "") for e in kb.entries
        ]
        needed = min(self.tuning.min_term_entries, max(1, len(documents) // 20))
        shared = []
        for key, terms in kb.vocabulary.items():
            compact_key = normalize(key).replace(" ", "")
            kept = tuple(
                term
                for term in terms
                if (compact := normalize(term).replace(" ", "")) not in compact_key
                and _occurs_in_at_least(compact, documents, needed)
            )
            if kept:
                shared.append((compact_key, kept))
        return sorted(shared, key=lambda kv: -len(kv[0]))

    def _build_lexicon(self) -> frozenset[str]:
        """Character bigrams of every legal term the knowledge base uses (keywords, topics,
        vocabulary words, civil scope terms), minus bigrams of everyday filler."""
        terms = {k for k, _ in self.vocabulary} | set(self.scope.civil_guard)
        terms |= {t for e in self.kb.entries for t in (*e.keywords, e.topic)}
        grams = {g for term in terms for g in bigrams(normalize(term))}
        return frozenset(grams - GENERIC_BIGRAMS)

    def _query_weights(self, norm: str) -> tuple[dict[str, float], dict[str, float]]:
        """Word and bigram weights of a normalized question. The legal terms that its
        colloquial words map to are added at a lower weight: they widen recall without
        outvoting what the resident actually wrote."""
        words = dict.fromkeys(self.segmenter.words(norm), 1.0)
        grams = dict.fromkeys(bigrams(norm), 1.0)
        weight = self.tuning.expansion_weight
        compact = norm.replace(" ", "")
        for key, terms in self.vocabulary:
            if key in compact:
                for term in terms:
                    term = normalize(term).replace(" ", "")
                    for token in [*self.segmenter.words(term), term]:
                        words.setdefault(token, weight)
                    for gram in bigrams(term):
                        grams.setdefault(gram, weight)
        return words, grams

    # --- querying --------------------------------------------------------------------------
    def rank(self, question: str, limit: int = 3) -> list[Match]:
        """Entries best first, with a fused score in [0, 1]."""
        t = self.tuning
        norm = normalize(question)
        words, grams = self._query_weights(norm)
        if not words and not grams:
            return []
        fused = t.word_weight * self._words.scores(words) / self._words.ceiling(words)
        fused += t.bigram_weight * self._grams.scores(grams) / self._grams.ceiling(grams)
        count = min(t.candidates, len(fused))
        if count == 0:
            return []
        top = np.argpartition(-fused, count - 1)[:count]
        query = " ".join(w for w, weight in words.items() if weight == 1.0)
        candidates = [int(i) for i in top if fused[i] > 0]
        similarity = self._similarities(query, candidates)
        results = []
        for index, similar in zip(candidates, similarity, strict=True):
            # A smooth squash keeps the order of strong candidates (a hard cap at 1.0 would
            # tie them) while giving a confidence in [0, 1).
            score = (1 - t.fuzz_weight) * math.tanh(float(fused[index]) * t.bm25_scale)
            score += t.fuzz_weight * similar
            results.append(Match(self.kb.entries[index], round(score, 6)))
        results.sort(key=lambda m: -m.score)
        return results[:limit]

    def _similarities(self, query: str, candidates: list[int]) -> list[float]:
        """For each candidate entry, how closely its best phrasing reads like the question
        (rapidfuzz over segmented text, one vectorized call for all candidates)."""
        if not query or not candidates or self.tuning.fuzz_weight == 0:
            return [0.0] * len(candidates)
        texts = [text for i in candidates for text in self._texts[i]]
        owners = np.repeat(np.arange(len(candidates)), [len(self._texts[i]) for i in candidates])
        scores = process.cdist([query], texts, scorer=fuzz.token_set_ratio, workers=1)[0]
        best = np.zeros(len(candidates), dtype=np.float32)
        np.maximum.at(best, owners, scores)
        return [float(v) / 100 for v in best]

    def match(self, question: str) -> MatchResult:
        """Decide what to do with a question: answer, suggest, redirect or admit ignorance."""
        t = self.tuning
        compact = normalize(question).replace(" ", "") or question.strip().lower()
        matches = self.rank(question)
        best = matches[0].score if matches else 0.0
        area = self.scope.decide(self.scope.signal(compact), best >= t.answer_threshold)
        if area == CHITCHAT:
            return MatchResult(question, CHITCHAT_STATUS, (), CHITCHAT)
        if area is not None:
            return MatchResult(question, OUT_OF_SCOPE, (), area)
        if not self._mentions_law(compact):
            return MatchResult(question, NONE, ())
        clear_lead = len(matches) == 1 or best - matches[1].score >= t.margin
        if best >= t.answer_threshold and clear_lead:
            return MatchResult(question, ANSWERED, tuple(matches))
        if best >= t.suggest_threshold:
            return MatchResult(question, SUGGEST, tuple(matches))
        return MatchResult(question, NONE, ())

    def _mentions_law(self, compact: str) -> bool:
        """Whether the question shares any legal term's bigram with the knowledge base.
        Without one, a high score is an accident of wording (a short question about
        cooking can share two characters with an answer about leases)."""
        return any(compact[i : i + 2] in self._lexicon for i in range(len(compact) - 1))

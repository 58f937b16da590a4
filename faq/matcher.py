"""Ranking knowledge-base entries for a resident's question, with a calibrated confidence.

Two signals, fused:
1. BM25 over each entry's words (question, phrasings, keywords, each expanded through the
   colloquial → legal vocabulary), on jieba words and on character bigrams. This finds the
   legal core inside long, noisy questions.
2. A TF-IDF model learned from the knowledge base itself (character 1–3-grams and jieba
   words; each entry one class, represented by the centroid of its phrasings), a weaker
   signal that is robust to typos and unseen wording.

The decision (answered / suggest / none) uses a probability that the first answer is right,
calibrated by cross-validation over the knowledge base's phrasings (faq.calibration); the
answer threshold is derived from it for a target precision at build time. A separate scope
signal (faq.scope) recognizes criminal / labour / administrative / tax questions and
chit-chat, and faq.safety catches emergencies before anything else.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from faq.bm25 import BM25, Terms, TermSpace, count_matrix, stack, weighted_rows
from faq.calibration import Calibration, RankingFeatures
from faq.kb import Entry, KnowledgeBase
from faq.scope import CHITCHAT, ScopeRules
from faq.text import Segmenter, bigrams, normalize
from faq.vectors import TextVectors, Vector

# How many of the best entries the confidence looks at for a rival answer.
RIVALS = 10

# Bigrams of everyday words that also occur inside legal terms; they do not make a
# question a legal one.
GENERIC_BIGRAMS = frozenset(
    "什么 怎么 怎样 如何 可以 能不 不能 是否 一个 一下 这个 那个 没有 还是 自己 我们 他们 你们 现在"
    " 今天 明天 昨天 时候 知道 应该 需要 问题 情况 事情 要求 已经 但是 因为 所以 如果 或者 不是 就是"
    " 有没 多少 哪里 怎么办 一般 会不 不会 还能 能否 谁的 的人 了吗 了没 好的 意思 东西 好看".split()
)

ANSWERED, SUGGEST, NONE, OUT_OF_SCOPE, CHITCHAT_STATUS, SAFETY = (
    "answered",
    "suggest",
    "none",
    "out_of_scope",
    "chitchat",
    "safety",
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
    area: str | None = None  # out_of_scope / chitchat: which area; safety: which route
    confidence: float = 0.0  # calibrated probability that the first match is right
    sure: bool = False  # confidence reaches the derived answer threshold
    notice: str = ""  # safety: the message to show before anything else

    @property
    def best(self) -> Match | None:
        return self.matches[0] if self.matches else None


@dataclass(frozen=True)
class Tuning:
    """How the index is built and how sure the matcher must be. There is no answer
    threshold here: it is derived from the knowledge base at build time (faq.calibration)
    for `target_precision` of outright answers."""

    k1: float = 2.0
    b: float = 0.5
    keyword_boost: int = 2
    word_weight: float = 0.3
    bigram_weight: float = 0.7
    vector_weight: float = 0.1  # the TF-IDF centroid signal, relative to BM25's 1.0
    suggest_threshold: float = 0.25
    expansion_weight: float = 0.3
    bm25_scale: float = 1.2
    min_term_entries: int = 5
    target_precision: float = 0.92  # the contract: outright answers right >= 0.92
    # A question this short ("离婚", "物业费") names a subject, not a situation: the
    # resident is offered the likely questions instead of one answer picked for them.
    min_answer_chars: int = 6
    folds: int = 4
    max_calibration_pairs: int = 3000


def _occurs_in_at_least(term: str, joined: str, count: int) -> bool:
    """Whether `term` occurs in `count` of the documents in `joined` (documents separated
    by newlines); at most one hit per document, and it stops as soon as it has `count`."""
    found, start = 0, 0
    while found < count:
        hit = joined.find(term, start)
        if hit < 0:
            return False
        found += 1
        end = joined.find("\n", hit)
        if end < 0:
            return found >= count
        start = end + 1
    return True


@dataclass(frozen=True)
class _Index:
    """Everything a ranking needs, over a chosen subset of each entry's texts."""

    words: BM25
    grams: BM25
    centroids: sparse.csr_matrix  # TF-IDF centroids, features x entries


@dataclass(frozen=True)
class _Query:
    norm: str
    words: Terms
    grams: Terms
    vector: Vector


class Matcher:
    def __init__(
        self,
        kb: KnowledgeBase,
        scope: ScopeRules | None = None,
        tuning: Tuning | None = None,
        safety=None,
    ) -> None:
        from faq.safety import SafetyRules

        self.kb = kb
        self.scope = scope or ScopeRules.load()
        self.safety = safety or SafetyRules.load()
        self.tuning = tuning or Tuning()
        self.vocabulary = self._shared_vocabulary(kb)
        terms = [t for e in kb.entries for t in (*e.keywords, e.topic)]
        terms += [k for k, _ in self.vocabulary] + [v for _, vs in self.vocabulary for v in vs]
        self.segmenter = Segmenter(terms)
        self._expansions = self._expansion_tokens()
        self._lexicon = self._build_lexicon()
        self._tokenize_entries()
        self._vectors = TextVectors(self._docs, self._doc_words)
        self._articles = [frozenset(e.articles) for e in kb.entries]
        self._index = self._build_index(None)
        self.calibration = self._calibrate()

    # --- index ---------------------------------------------------------------------------
    def _tokenize_entries(self) -> None:
        """Segment every text once: the index and each cross-validation fold reuse it."""
        t = self.tuning
        self._word_space, self._gram_space = TermSpace(), TermSpace()
        self._docs: list[str] = []  # normalized texts, row order of every text matrix
        self._doc_words: list[list[str]] = []
        self._rows: list[list[int]] = []  # entry -> its rows (texts, then the keyword row)
        text_words: list[list[int]] = []  # row -> its distinct word ids (keyword rows: none)
        text_grams: list[list[int]] = []
        keyword_words: list[list[int]] = []  # entry -> keyword word ids, boosted
        keyword_grams: list[list[int]] = []
        for entry in self.kb.entries:
            rows = []
            for text in entry.texts:
                norm = normalize(text)
                tokens = self.segmenter.words(norm)
                rows.append(self._add_doc(norm, tokens))
                text_words.append(self._word_space.add(dict.fromkeys(tokens)))
                text_grams.append(self._gram_space.add(dict.fromkeys(bigrams(norm))))
            words: list[int] = []
            grams: list[int] = []
            for keyword in (*entry.keywords, entry.topic):
                norm = normalize(keyword)
                tokens = self.segmenter.words(norm) + [norm.replace(" ", "")]
                words += self._word_space.add(tokens) * t.keyword_boost
                grams += self._gram_space.add(bigrams(norm)) * t.keyword_boost
            keyword_text = normalize(" ".join((*entry.keywords, entry.topic)))
            rows.append(self._add_doc(keyword_text, self.segmenter.words(keyword_text)))
            text_words.append([])
            text_grams.append([])
            keyword_words.append(words)
            keyword_grams.append(grams)
            self._rows.append(rows)
        width_w, width_g = len(self._word_space.ids), len(self._gram_space.ids)
        self._text_words = count_matrix(text_words, width_w)
        self._text_grams = count_matrix(text_grams, width_g)
        self._keyword_words = count_matrix(keyword_words, width_w)
        self._keyword_grams = count_matrix(keyword_grams, width_g)

    def _add_doc(self, norm: str, words: list[str]) -> int:
        self._docs.append(norm)
        self._doc_words.append(words)
        return len(self._docs) - 1

    def _build_index(self, held_out: list[set[int]] | None) -> _Index:
        """The index over every text, or without the texts held out (entry -> text numbers)."""
        t = self.tuning
        members: list[list[int]] = []  # entry -> kept rows, keyword row first
        texts: list[list[int]] = []  # entry -> kept text rows
        for index, rows in enumerate(self._rows):
            skip = held_out[index] if held_out else set()
            kept = [row for number, row in enumerate(rows[:-1]) if number not in skip]
            texts.append(kept)
            members.append([rows[-1], *kept])
        membership = count_matrix(texts, len(self._docs))
        words = self._keyword_words + membership @ self._text_words
        grams = self._keyword_grams + membership @ self._text_grams
        return _Index(
            BM25(words, t.k1, t.b), BM25(grams, t.k1, t.b), self._vectors.centroids(members)
        )

    def _expansion_tokens(self) -> list[tuple[str, list[str], list[str]]]:
        """For each colloquial key, the words and bigrams of the legal terms it maps to."""
        out = []
        for key, terms in self.vocabulary:
            words: list[str] = []
            grams: list[str] = []
            for term in terms:
                term = normalize(term).replace(" ", "")
                words += [*self.segmenter.words(term), term]
                grams += bigrams(term)
            out.append((key, words, grams))
        return out

    def _shared_vocabulary(self, kb: KnowledgeBase) -> list[tuple[str, tuple[str, ...]]]:
        """The vocabulary mappings whose legal terms are shared by several entries.

        A colloquial word expanded to a term that only one entry uses would route every
        question containing that word to that entry; only terms common to at least
        `tuning.min_term_entries` entries widen recall without such hidden routing."""
        documents = [
            normalize(" ".join((*e.texts, *e.keywords))).replace(" ", "") for e in kb.entries
        ]
        joined = "\n".join(documents)
        needed = min(self.tuning.min_term_entries, max(1, len(documents) // 20))
        shared = []
        for key, terms in kb.vocabulary.items():
            compact_key = normalize(key).replace(" ", "")
            kept = tuple(
                term
                for term in terms
                if (compact := normalize(term).replace(" ", "")) not in compact_key
                and _occurs_in_at_least(compact, joined, needed)
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

    def _query_weights(
        self, norm: str, tokens: list[str]
    ) -> tuple[dict[str, float], dict[str, float]]:
        """Word and bigram weights of a normalized question. The legal terms that its
        colloquial words map to are added at a lower weight: they widen recall without
        outvoting what the resident actually wrote."""
        words = dict.fromkeys(tokens, 1.0)
        grams = dict.fromkeys(bigrams(norm), 1.0)
        weight = self.tuning.expansion_weight
        compact = norm.replace(" ", "")
        for key, expanded_words, expanded_grams in self._expansions:
            if key in compact:
                for token in expanded_words:
                    words.setdefault(token, weight)
                for gram in expanded_grams:
                    grams.setdefault(gram, weight)
        return words, grams

    # --- querying --------------------------------------------------------------------------
    def _query(self, question: str) -> _Query:
        norm = normalize(question)
        tokens = self.segmenter.words(norm)
        words, grams = self._query_weights(norm, tokens)
        return _Query(
            norm,
            self._word_space.lookup(words),
            self._gram_space.lookup(grams),
            self._vectors.vector(norm, tokens),
        )

    def _known_query(self, entry_index: int, number: int) -> _Query:
        """A knowledge-base text as a query, from the tokens and vector already computed."""
        row = self._rows[entry_index][number]
        norm = self._docs[row]
        words, grams = self._query_weights(norm, self._doc_words[row])
        return _Query(
            norm,
            self._word_space.lookup(words),
            self._gram_space.lookup(grams),
            self._vectors.row(row),
        )

    def _scores(self, index: _Index, queries: list[_Query]) -> tuple[np.ndarray, np.ndarray]:
        """(fused score, TF-IDF cosine) of every entry for each query (one row each), the
        fused score in [0, 1). Batched: a fold of held-out phrasings is three products."""
        t = self.tuning
        lexical = t.word_weight * index.words.score_rows(
            stack([q.words for q in queries], len(self._word_space.ids))
        )
        lexical += t.bigram_weight * index.grams.score_rows(
            stack([q.grams for q in queries], len(self._gram_space.ids))
        )
        # A smooth squash keeps the order of strong candidates while bounding the score.
        lexical = np.tanh(lexical * t.bm25_scale)
        vectors = stack([q.vector for q in queries], self._vectors.matrix.shape[1])
        cosine = (vectors @ index.centroids).toarray()
        fused = (lexical + t.vector_weight * cosine) / (1 + t.vector_weight)
        return fused, cosine

    def _ranked(
        self, index: _Index, query: _Query, limit: int
    ) -> tuple[list[tuple[int, float]], RankingFeatures]:
        """The best entries (index, fused score) and the features the confidence reads."""
        if not len(query.words[0]) and not len(query.grams[0]) and not len(query.vector[0]):
            return [], RankingFeatures.of(0.0, 0.0, 0.0, 0.0, False)
        fused, cosine = self._score_one(index, query)
        return self._top(fused, cosine, limit)

    def _score_one(self, index: _Index, query: _Query) -> tuple[np.ndarray, np.ndarray]:
        """The same scores as `_scores` for one query, without building matrices."""
        t = self.tuning
        lexical = t.word_weight * index.words.score(query.words)
        lexical += t.bigram_weight * index.grams.score(query.grams)
        lexical = np.tanh(lexical * t.bm25_scale)
        cosine = weighted_rows(index.centroids, query.vector, len(self.kb))
        fused = (lexical + t.vector_weight * cosine) / (1 + t.vector_weight)
        return fused, cosine

    def _top(
        self, fused: np.ndarray, cosine: np.ndarray, limit: int
    ) -> tuple[list[tuple[int, float]], RankingFeatures]:
        count = min(max(limit, RIVALS), len(fused))
        top = np.argpartition(-fused, count - 1)[:count]
        top = top[np.argsort(-fused[top], kind="stable")]
        ranked = [(int(i), float(fused[i])) for i in top if fused[i] > 0]
        if not ranked:
            return [], RankingFeatures.of(0.0, 0.0, 0.0, 0.0, False)
        first = ranked[0][0]
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        # The best rival that answers with other articles: a runner-up citing the same
        # articles is a sibling entry, not a different legal situation.
        cited = self._articles[first]
        rival = next((s for i, s in ranked[1:] if not cited & self._articles[i]), 0.0)
        features = RankingFeatures.of(
            ranked[0][1], second, rival, float(cosine[first]), int(np.argmax(cosine)) == first
        )
        return ranked[:limit], features

    def rank(self, question: str, limit: int = 3) -> list[Match]:
        """Entries best first, with a fused score in [0, 1)."""
        ranked, _ = self._ranked(self._index, self._query(question), limit)
        return [Match(self.kb.entries[i], round(score, 6)) for i, score in ranked]

    # --- confidence ------------------------------------------------------------------------
    def _calibrate(self) -> Calibration:
        """Hold each entry's phrasings out in turn (k folds), rank them against an index
        built without them, and fit the confidence on (features, first answer right)."""
        t = self.tuning
        folds: list[list[set[int]]] = [[set() for _ in self.kb.entries] for _ in range(t.folds)]
        probes: list[list[tuple[int, int]]] = [[] for _ in range(t.folds)]
        for index, entry in enumerate(self.kb.entries):
            numbers = list(range(1, len(entry.texts)))  # the canonical question stays in
            random.Random(entry.id).shuffle(numbers)
            for position, number in enumerate(numbers):
                folds[position % t.folds][index].add(number)
                probes[position % t.folds].append((index, number))
        total = sum(len(p) for p in probes)
        keep = min(1.0, t.max_calibration_pairs / max(1, total))
        features, right = [], []
        for fold, held_out in enumerate(folds):
            sample = probes[fold]
            if keep < 1.0:
                sample = random.Random(fold).sample(sample, int(len(sample) * keep))
            if not sample:
                continue
            index = self._build_index(held_out)
            queries = [self._known_query(e, n) for e, n in sample]
            fused, cosine = self._scores(index, queries)
            for row, (entry_index, _) in enumerate(sample):
                entry = self.kb.entries[entry_index]
                ranked, feature = self._top(fused[row], cosine[row], 1)
                cited = set(self.kb.entries[ranked[0][0]].articles) if ranked else set()
                features.append(feature)
                right.append(bool(cited & set(entry.articles)))
        return Calibration(features, right, t.target_precision)

    @property
    def answer_threshold(self) -> float:
        return self.calibration.threshold

    def confidence(self, question: str) -> float:
        _, features = self._ranked(self._index, self._query(question), 1)
        return self.calibration.probability(features)

    # --- deciding --------------------------------------------------------------------------
    def match(self, question: str) -> MatchResult:
        """Decide what to do with a question: a safety route first, then answer, suggest,
        redirect or admit ignorance. Never raises on any text."""
        t = self.tuning
        compact = normalize(question).replace(" ", "") or question.strip().lower()
        ranked, features = self._ranked(self._index, self._query(question), 3)
        matches = tuple(Match(self.kb.entries[i], round(score, 6)) for i, score in ranked)
        confidence = self.calibration.probability(features) if matches else 0.0
        sure = confidence >= self.calibration.threshold and len(compact) >= t.min_answer_chars
        area = self.scope.decide(self.scope.signal(compact), sure)
        route = self.safety.route(compact, before_scope=True)
        if route is not None:
            # An emergency comes first; Civil Code entries follow only a civil question.
            follow_up = () if area else matches
            return self._safety_result(question, compact, route, follow_up, confidence)
        route = None if area else self.safety.route(compact, before_scope=False)
        if route is not None:
            return self._safety_result(question, compact, route, matches, confidence)
        if area == CHITCHAT:
            return MatchResult(question, CHITCHAT_STATUS, (), CHITCHAT)
        if area is not None:
            return MatchResult(question, OUT_OF_SCOPE, (), area)
        if not matches or not self._mentions_law(compact):
            return MatchResult(question, NONE, ())
        if sure:
            return MatchResult(question, ANSWERED, matches, confidence=confidence, sure=True)
        if matches[0].score >= t.suggest_threshold:
            return MatchResult(question, SUGGEST, matches, confidence=confidence)
        return MatchResult(question, NONE, (), confidence=confidence)

    def _safety_result(self, question, compact, route, matches, confidence) -> MatchResult:
        """The safety message comes first; Civil Code entries may follow it."""
        follow_up = matches if route.follow_up and self._mentions_law(compact) else ()
        sure = confidence >= self.calibration.threshold
        return MatchResult(question, SAFETY, follow_up, route.name, confidence, sure, route.message)

    def _mentions_law(self, compact: str) -> bool:
        """Whether the question shares any legal term's bigram with the knowledge base.
        Without one, a high score is an accident of wording (a short question about
        cooking can share two characters with an answer about leases)."""
        return any(compact[i : i + 2] in self._lexicon for i in range(len(compact) - 1))

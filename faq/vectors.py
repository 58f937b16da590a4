"""TF-IDF vectors of the knowledge base's texts: character 1–3-grams (within words, so
typos and unseen compounds still share most features) and jieba words.

scikit-learn fits the vocabulary and IDF once over all texts; a single question is then
vectorized here directly from that vocabulary (sklearn's per-call input validation costs
more than the vectorizing itself)."""

from __future__ import annotations

from collections import Counter

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

Vector = tuple[np.ndarray, np.ndarray]  # (feature indices, L2-normalized weights)
EMPTY: Vector = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))


def _identity(tokens: list[str]) -> list[str]:
    return tokens


def _rows_l2(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norms) @ matrix)


class TextVectors:
    def __init__(self, docs: list[str], doc_words: list[list[str]]) -> None:
        chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True)
        words = TfidfVectorizer(analyzer=_identity, sublinear_tf=True)
        char_matrix = chars.fit_transform(docs)
        word_matrix = words.fit_transform(doc_words)
        self.matrix = _rows_l2(sparse.hstack([char_matrix, word_matrix]).tocsr())
        self._char_analyzer = chars.build_analyzer()
        self._char_vocabulary, self._char_idf = chars.vocabulary_, chars.idf_
        self._word_vocabulary, self._word_idf = words.vocabulary_, words.idf_
        self._offset = char_matrix.shape[1]

    def centroids(self, members: list[list[int]]) -> sparse.csr_matrix:
        """One L2-normalized mean vector per class, from the rows listed for it, returned
        transposed (features x classes) for fast scoring of one question."""
        rows = [row for group in members for row in group]
        cols = [c for c, group in enumerate(members) for _ in group]
        data = [1.0 / len(group) for group in members for _ in group]
        weights = sparse.csr_matrix(
            (data, (cols, rows)), shape=(len(members), self.matrix.shape[0])
        )
        return _rows_l2(weights @ self.matrix).T.tocsr()

    def vector(self, norm: str, words: list[str]) -> Vector:
        chars = self._block(self._char_analyzer(norm), self._char_vocabulary, self._char_idf)
        tokens = self._block(words, self._word_vocabulary, self._word_idf)
        indices = np.concatenate([chars[0], tokens[0] + self._offset])
        weights = np.concatenate([chars[1], tokens[1]])
        length = float(np.linalg.norm(weights))
        return (indices, weights / length) if length else EMPTY

    def row(self, number: int) -> Vector:
        start, end = self.matrix.indptr[number], self.matrix.indptr[number + 1]
        return self.matrix.indices[start:end], self.matrix.data[start:end]

    @staticmethod
    def _block(tokens: list[str], vocabulary: dict[str, int], idf: np.ndarray) -> Vector:
        counts = Counter(vocabulary[t] for t in tokens if t in vocabulary)
        if not counts:
            return EMPTY
        indices = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        weights = (1.0 + np.log(tf)) * idf[indices]
        return indices, weights / np.linalg.norm(weights)

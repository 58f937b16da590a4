"""BM25 over knowledge-base entries as sparse matrices, so that an index over any subset of
the phrasings (one per cross-validation fold) is a matrix product, not a Python loop."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy import sparse

Terms = tuple[np.ndarray, np.ndarray]  # (term ids, weights)
NO_TERMS: Terms = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))


class TermSpace:
    """Token -> column number, grown while the knowledge base is read."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def add(self, tokens: Iterable[str]) -> list[int]:
        return [self.ids.setdefault(token, len(self.ids)) for token in tokens]

    def lookup(self, weights: dict[str, float]) -> Terms:
        """The known tokens of a query with their weights (unknown ones cannot score)."""
        pairs = [(self.ids[t], w) for t, w in weights.items() if t in self.ids]
        if not pairs:
            return NO_TERMS
        ids, values = zip(*pairs, strict=True)
        return np.array(ids, dtype=np.int64), np.array(values, dtype=np.float64)


def count_matrix(rows: list[list[int]], width: int) -> sparse.csr_matrix:
    """Rows of term counts (a term listed twice counts twice)."""
    indptr = np.cumsum([0, *(len(r) for r in rows)])
    indices = np.fromiter((i for r in rows for i in r), dtype=np.int64, count=int(indptr[-1]))
    data = np.ones(len(indices), dtype=np.float64)
    matrix = sparse.csr_matrix((data, indices, indptr), shape=(len(rows), width))
    matrix.sum_duplicates()
    return matrix


class BM25:
    """BM25 weights of each entry (row of `tf`) for each term (column)."""

    def __init__(self, tf: sparse.csr_matrix, k1: float, b: float) -> None:
        tf = tf.tocsr()
        tf.sum_duplicates()
        size = tf.shape[0]
        lengths = np.asarray(tf.sum(axis=1)).ravel()
        average = float(lengths.mean()) if size and lengths.mean() > 0 else 1.0
        frequency = np.bincount(tf.indices, minlength=tf.shape[1])
        self.idf = np.where(
            frequency > 0, np.log(1 + (size - frequency + 0.5) / (frequency + 0.5)), 0.0
        )
        norm = k1 * (1 - b + b * lengths / average)
        row_of = np.repeat(np.arange(size), np.diff(tf.indptr))
        data = tf.data * (k1 + 1) / (tf.data + norm[row_of]) * self.idf[tf.indices]
        weighted = sparse.csr_matrix((data, tf.indices, tf.indptr), shape=tf.shape)
        self._by_term = weighted.T.tocsr()  # terms x entries: a query reads a few rows
        self.size = size

    def score(self, terms: Terms) -> np.ndarray:
        """One query's score of each entry (the fast path for a resident's question)."""
        ids, weights = terms
        ceiling = float(weights @ self.idf[ids]) if len(ids) else 0.0
        return weighted_rows(self._by_term, terms, self.size) / (ceiling or 1.0)

    def score_rows(self, queries: sparse.csr_matrix) -> np.ndarray:
        """Each entry's score (columns) for each query (rows of term weights), divided by
        the query's IDF mass (what an entry holding every query term would reach)."""
        ceiling = queries @ self.idf
        ceiling[ceiling == 0] = 1.0
        return (queries @ self._by_term).toarray() / ceiling[:, None]


def stack(rows: list[tuple[np.ndarray, np.ndarray]], width: int) -> sparse.csr_matrix:
    """Sparse rows from (ids, weights) pairs."""
    indptr = np.cumsum([0, *(len(ids) for ids, _ in rows)])
    indices = np.concatenate([ids for ids, _ in rows]) if rows else np.zeros(0, np.int64)
    data = np.concatenate([w for _, w in rows]) if rows else np.zeros(0)
    return sparse.csr_matrix((data, indices, indptr), shape=(len(rows), width))


def weighted_rows(matrix: sparse.csr_matrix, terms: Terms, width: int) -> np.ndarray:
    """The weighted sum of some rows of a CSR matrix, as a dense vector (plain numpy: for a
    single query this is several times faster than a scipy product)."""
    ids, weights = terms
    starts, ends = matrix.indptr[ids], matrix.indptr[ids + 1]
    counts = ends - starts
    total = int(counts.sum())
    if total == 0:
        return np.zeros(width, dtype=np.float64)
    offsets = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(total)
    values = matrix.data[offsets] * np.repeat(weights, counts)
    return np.bincount(matrix.indices[offsets], weights=values, minlength=width)

"""Turning ranking scores into a calibrated probability that the first answer is right,
and deriving the answer threshold from it.

The pairs (features of a ranking, whether its first answer was right) come from
cross-validation over the knowledge base's own phrasings (faq.matcher holds phrasings out,
builds the index without them, and ranks them). A logistic regression on those pairs (Platt
scaling over a few features of the ranking) gives the probability; the threshold is the
lowest probability at which the outright answers among the held-out pairs are still right
at the target precision. Nothing here is a hand-set cut-off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression


@dataclass(frozen=True)
class RankingFeatures:
    """What the confidence is computed from, for one ranked question."""

    top: float  # fused score of the first answer
    margin: float  # its lead over the second
    rival_margin: float  # its lead over the best entry citing none of its articles
    similarity: float  # the TF-IDF cosine of the question with the first answer's entry
    agree: float  # 1.0 when the TF-IDF model ranks the same entry first

    def vector(self) -> list[float]:
        return [self.top, self.margin, self.rival_margin, self.similarity, self.agree]

    @staticmethod
    def of(
        top: float, second: float, rival: float, similarity: float, agree: bool
    ) -> RankingFeatures:
        return RankingFeatures(top, top - second, top - rival, similarity, float(agree))


def threshold_for_precision(probabilities: np.ndarray, right: np.ndarray, target: float) -> float:
    """The lowest probability p such that the pairs scoring >= p are right at a share of at
    least `target` (walking down from the most confident pair). Returns a value above every
    probability when even the most confident pairs miss the target: then nothing is
    answered outright."""
    order = np.argsort(-probabilities, kind="stable")
    ranked_p = probabilities[order]
    hits = np.cumsum(right[order])
    counts = np.arange(1, len(order) + 1)
    precision = hits / counts
    # Only cut between distinct probabilities: all pairs at the cut value are included.
    last_of_value = np.append(ranked_p[1:] != ranked_p[:-1], True)
    ok = np.where((precision >= target) & last_of_value)[0]
    if len(ok) == 0:
        return float(1.0 + 1e-9)
    return float(ranked_p[ok[-1]])


class Calibration:
    """A fitted probability model plus the threshold derived from it."""

    def __init__(self, features: list[RankingFeatures], right: list[bool], target: float) -> None:
        if len(features) < 20 or len(set(right)) < 2:
            raise ValueError("calibration needs at least 20 held-out pairs, right and wrong")
        x = np.array([f.vector() for f in features], dtype=np.float64)
        y = np.array(right, dtype=bool)
        self._mean = x.mean(axis=0)
        self._scale = x.std(axis=0) + 1e-9
        self._model = LogisticRegression(C=1.0, max_iter=1000).fit(self._standard(x), y)
        self.target = target
        self.pairs = len(y)
        self.probabilities = self._model.predict_proba(self._standard(x))[:, 1]
        self.right = y
        self.threshold = threshold_for_precision(self.probabilities, y, target)

    def _standard(self, x: np.ndarray) -> np.ndarray:
        return (x - self._mean) / self._scale

    def probability(self, features: RankingFeatures) -> float:
        x = self._standard(np.array(features.vector(), dtype=np.float64))
        z = float(x @ self._model.coef_[0] + self._model.intercept_[0])
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0

    def held_out_precision(self) -> tuple[float, float]:
        """(precision, share answered) of the held-out pairs at the derived threshold."""
        answered = self.probabilities >= self.threshold
        if not answered.any():
            return 1.0, 0.0
        return float(self.right[answered].mean()), float(answered.mean())

"""Metrics as the trainer and the evaluation loop compute them: transform(sum(numerator) /
sum(denominator)) over the per-batch sums a task returns, so a ratio (byte error, accuracy), its
exp (perplexity) and its change of unit (bits per character) are all first-class metrics."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping


@dataclass(frozen=True)
class Metric:
    numerator: str
    denominator: str = "count"
    transform: Callable[[float], float] | None = None
    goal: str = "min"   # "min" or "max": the direction in which the metric improves

    def value(self, sums: Mapping[str, float]) -> float | None:
        """The metric over accumulated sums; None when the denominator is missing or zero."""
        den = sums.get(self.denominator)
        if not den or self.numerator not in sums:
            return None
        ratio = sums[self.numerator] / den
        return float(self.transform(ratio)) if self.transform else float(ratio)


def nats_to_bits(nats: float) -> float:
    return nats / math.log(2.0)


def perplexity(nats: float) -> float:
    """exp of the mean negative log-likelihood in nats (capped to stay a finite float)."""
    return math.exp(min(nats, 700.0))


def metric_values(metrics: Mapping[str, Metric], sums: Mapping[str, float], suffix: str = "") -> dict[str, float]:
    out = {}
    for name, metric in metrics.items():
        v = metric.value(sums)
        if v is not None:
            out[name + suffix] = v
    return out

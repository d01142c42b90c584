"""Metrics as the trainer and the evaluation loop compute them.

- `Metric`: transform(sum(numerator) / sum(denominator)) over the per-batch sums a task returns,
  so a ratio (byte error, accuracy), its exp (perplexity) and its change of unit (bits per
  character) are all first-class metrics, in training windows and in evaluation alike.
- `SplitMetric`: a metric over a whole evaluation split that a ratio of sums cannot express
  (clipped n-gram counts per order, moments of embeddings, sets of distinct n-grams). The
  evaluation loop hands it the per-example outputs of every batch, gathered from every replica
  in the order of the global batch, and it accumulates them on the host and reduces them once
  at the end (Model Garden's `Task.aggregate_logs` / `reduce_aggregated_logs`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping


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


@dataclass(frozen=True)
class SplitMetric:
    """A metric over a whole split, accumulated batch by batch on the host (evaluation only).

    `inputs` names the outputs of `Task.eval_sums` it reads. Each is either a scalar (rank 0),
    which `add` receives as the batch's sum over replicas (a float), or an array with one row
    per example (leading axis = the batch's examples), which `add` receives as a NumPy array of
    the global batch's rows, gathered from every replica in order: the very rows a single
    device computes, so the metric has the same value on any number of replicas. Accumulating
    exactly (integer counts in int64, set unions) also makes it independent of the batching.

    Subclasses define `start` (the empty state), `add` (the state after one batch) and `result`
    (a float, or {part: float} where part "" is the metric itself and any other part is
    reported as `<name>_<part>`, e.g. a BLEU score and its n-gram precisions; None when there
    is nothing to report). `goal`: whether the objective direction is "min" or "max"."""
    inputs: tuple[str, ...]
    goal: str = field(default="min", kw_only=True)

    def __post_init__(self):
        if self.goal not in ("min", "max"):
            raise ValueError(f"a metric's goal is 'min' or 'max', not {self.goal!r}")

    def start(self) -> Any:
        raise NotImplementedError

    def add(self, state: Any, outputs: Mapping[str, Any]) -> Any:
        raise NotImplementedError

    def result(self, state: Any) -> float | Mapping[str, float] | None:
        raise NotImplementedError

    def values(self, name: str, state: Any, suffix: str = "") -> dict[str, float]:
        """{metric name: value} of this metric called `name`, from its final state."""
        result = self.result(state)
        if result is None:
            return {}
        if not isinstance(result, Mapping):
            result = {"": result}
        return {(f"{name}_{part}" if part else name) + suffix: float(v)
                for part, v in result.items() if v is not None}


def metric_values(metrics: Mapping[str, Metric | SplitMetric], sums: Mapping[str, float],
                  suffix: str = "") -> dict[str, float]:
    """The ratio metrics (`Metric`) over accumulated sums; split metrics need `Evaluator`."""
    out = {}
    for name, metric in metrics.items():
        v = metric.value(sums) if isinstance(metric, Metric) else None
        if v is not None:
            out[name + suffix] = v
    return out

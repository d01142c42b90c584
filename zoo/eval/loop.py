"""The one evaluation loop: a task's metrics over a dataset, for the trainer and `zoo eval`.

`Evaluator(task, model, strategy)` traces the task's `eval_sums` once; calling it on a dataset
adds the scalar sums of every batch (overall, and per `task.batch_group` label) and turns them
into the task's `Metric`s, and feeds the per-example outputs of every batch to its
`SplitMetric`s. Under a strategy of several replicas (the trainer's) each global batch is split
over the replicas as the trainer splits training batches; the replicas' sums are added on the
host in float64 and their per-example outputs gathered in the order of the global batch, so
a split metric sees the rows a single device sees. Without one (`zoo eval`) the batches run on
one device, as they always did.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from zoo.eval.metrics import SplitMetric, metric_values


class _Totals:
    """What one group of batches accumulated: scalar sums and each split metric's state."""

    def __init__(self, split: dict[str, SplitMetric]):
        self.sums: dict[str, float] = {}
        self.states = {name: m.start() for name, m in split.items()}

    def add(self, split: dict[str, SplitMetric], sums: dict[str, float], rows: dict[str, np.ndarray]):
        for k, v in sums.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        for name, m in split.items():
            missing = [k for k in m.inputs if k not in sums and k not in rows]
            if missing:
                raise KeyError(f"metric {name!r} reads {missing}, which the task's eval_sums does "
                               f"not return (it returns {sorted(sums) + sorted(rows)})")
            self.states[name] = m.add(self.states[name], {k: sums[k] if k in sums else rows[k]
                                                          for k in m.inputs})


class Evaluator:
    """Accumulates a task's `eval_sums` over datasets and reports its metrics."""

    def __init__(self, task, model, strategy=None):
        import tensorflow as tf

        self.task, self.model = task, model
        self.split = {n: m for n, m in task.metrics.items() if isinstance(m, SplitMetric)}
        self._step = tf.function(lambda batch, step: task.eval_sums(model, batch, step=step))
        several = strategy is not None and strategy.num_replicas_in_sync > 1
        self.strategy = strategy if several and task.distributed_eval(model) else None
        if self.strategy is not None:
            self._replicated = tf.function(self._replicated_step)

    def _replicated_step(self, batch, step):
        """{"sums": {key: [replicas]}, "rows": {key: rows of the global batch}} of one batch."""
        import tensorflow as tf

        strategy = self.strategy

        def replica_step(piece, step):
            out = {k: tf.convert_to_tensor(v) for k, v in
                   self.task.eval_sums(self.model, piece, step=step).items()}
            return ({k: tf.reshape(v, [1]) for k, v in out.items() if v.shape.rank == 0},
                    {k: v for k, v in out.items() if v.shape.rank != 0})

        sums, rows = strategy.run(replica_step, args=(batch, step))
        return {"sums": {k: strategy.gather(v, axis=0) for k, v in sums.items()},
                "rows": {k: strategy.gather(v, axis=0) for k, v in rows.items()}}

    def _distribute(self, batch, n: int):
        """The global batch split over the replicas in order, as tf.distribute splits a batch
        (the first n % replicas pieces one example longer)."""
        import tensorflow as tf

        replicas = self.strategy.num_replicas_in_sync
        bounds = [i * (n // replicas) + min(i, n % replicas) for i in range(replicas + 1)]

        def piece(ctx):
            i = ctx.replica_id_in_sync_group
            return tf.nest.map_structure(lambda t: t[bounds[i]:bounds[i + 1]], batch)

        return self.strategy.experimental_distribute_values_from_function(piece)

    def batch_outputs(self, batch, step_t) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """(scalar sums, per-example rows) of one global batch."""
        import tensorflow as tf

        n = int(tf.nest.flatten(batch)[0].shape[0])
        # A batch with fewer examples than replicas would hand some replica an empty piece,
        # which not every model accepts: it runs whole on one device.
        if self.strategy is None or n < self.strategy.num_replicas_in_sync:
            out = self._step(batch, step_t)
            sums = {k: float(v) for k, v in out.items() if len(v.shape) == 0}
            return sums, {k: v.numpy() for k, v in out.items() if len(v.shape) != 0}
        out = self._replicated(self._distribute(batch, n), step_t)
        sums = {k: float(np.sum(v.numpy().astype(np.float64))) for k, v in out["sums"].items()}
        return sums, {k: v.numpy() for k, v in out["rows"].items()}

    def totals(self, dataset, step: int = 0, groups: bool = True) -> dict[str | None, _Totals]:
        """What every batch of `dataset` adds up to, overall (key None) and per batch group."""
        import tensorflow as tf

        step_t = tf.constant(step, tf.int64)
        totals: dict[str | None, _Totals] = {None: _Totals(self.split)}
        for batch in dataset:
            sums, rows = self.batch_outputs(batch, step_t)
            label = self.task.batch_group(batch) if groups else None
            totals[None].add(self.split, sums, rows)
            if label is not None:
                totals.setdefault(label, _Totals(self.split)).add(self.split, sums, rows)
        return totals

    def values(self, totals: _Totals, suffix: str = "") -> dict[str, float]:
        out = {}
        for name, metric in self.task.metrics.items():
            if isinstance(metric, SplitMetric):
                out.update(metric.values(name, totals.states[name], suffix))
            else:
                out.update(metric_values({name: metric}, totals.sums, suffix))
        return out

    def __call__(self, dataset, step: int = 0, groups: bool = True) -> dict[str, float]:
        """{metric: value} over `dataset`, plus `<metric>_<group>` per batch group."""
        totals = self.totals(dataset, step, groups)
        out = self.values(totals.pop(None))
        for label, t in totals.items():
            out.update(self.values(t, suffix=f"_{label}"))
        return out


def evaluate(task, model, dataset=None, step: int = 0, strategy=None) -> dict[str, Any]:
    """The task's metrics over `dataset` (default: its test split), on the replicas of
    `strategy` (default: one device)."""
    return Evaluator(task, model, strategy)(task.eval_dataset(model) if dataset is None else dataset, step)

"""The one evaluation loop: a task's metrics over a dataset, for the trainer and `zoo eval`.

`Evaluator(task, model)` traces the task's `eval_sums` once; calling it on a dataset adds the
sums of every batch (overall, and per `task.batch_group` label) and turns them into the task's
`Metric`s. `evaluate_source` is `zoo eval`: the loop over the test split plus the task's own
analyses, written to `metrics.json`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo.io import atomic_write_json
from zoo.eval.metrics import metric_values


class Evaluator:
    """Sums a task's `eval_sums` over datasets and reports its metrics."""

    def __init__(self, task, model):
        import tensorflow as tf

        self.task, self.model = task, model
        self._step = tf.function(lambda batch, step: task.eval_sums(model, batch, step=step))

    def sums(self, dataset, step: int = 0, groups: bool = True) -> dict[str | None, dict[str, float]]:
        import tensorflow as tf

        step_t = tf.constant(step, tf.int64)
        totals: dict[str | None, dict[str, float]] = {None: {}}
        for batch in dataset:
            sums = {k: float(v) for k, v in self._step(batch, step_t).items()}
            label = self.task.batch_group(batch) if groups else None
            for acc in (totals[None],) + ((totals.setdefault(label, {}),) if label is not None else ()):
                for k, v in sums.items():
                    acc[k] = acc.get(k, 0.0) + v
        return totals

    def __call__(self, dataset, step: int = 0, groups: bool = True) -> dict[str, float]:
        """{metric: value} over `dataset`, plus `<metric>_<group>` per batch group."""
        totals = self.sums(dataset, step, groups)
        out = metric_values(self.task.metrics, totals.pop(None))
        for label, acc in totals.items():
            out.update(metric_values(self.task.metrics, acc, suffix=f"_{label}"))
        return out


def evaluate(task, model, dataset=None, step: int = 0) -> dict[str, float]:
    """The task's metrics over `dataset` (default: its test split)."""
    return Evaluator(task, model)(task.eval_dataset(model) if dataset is None else dataset, step)


def load_source(path):
    """(config, model, folder) of a run directory or an export directory."""
    from zoo.config import RecipeError, load_recipe
    from zoo.export.exporter import MANIFEST, load_keras_model, read_manifest
    from zoo.runs import KERAS_FILE, RunError, is_run_dir, load_run

    p = Path(path)
    if (p / MANIFEST).is_file() and (p / KERAS_FILE).is_file():
        manifest = read_manifest(p)
        try:
            config = load_recipe(manifest["recipe"])
        except (KeyError, RecipeError) as e:
            raise RunError(f"export {str(p)!r} has an unusable recipe in {MANIFEST}: {e}") from None
        return config, load_keras_model(p), p
    if not p.exists():
        raise RunError(f"no such run or export directory: {str(p)!r}")
    if not is_run_dir(p):
        raise RunError(f"{str(p)!r} is neither a run directory (recipe.yaml) nor an export "
                       f"({MANIFEST} + {KERAS_FILE})")
    config, model = load_run(p)
    return config, model, p


def evaluate_source(path, out_dir=None, overrides: list[str] | None = None) -> dict[str, Any]:
    """`zoo eval`: the test-split metrics of a run or an export and its task's analyses, written
    to `<out_dir>/metrics.json` (default `<path>/eval`).

    The task is restored from the folder's artifacts (no corpus needed); with `data.*`
    overrides (another corpus) it reads that corpus instead."""
    from zoo.runs import prepare_task

    config, model, folder = load_source(path)
    overrides = list(overrides or [])
    if overrides:
        config = config.with_overrides(overrides)
    reads_other_data = any(o.split("=", 1)[0].strip().startswith("data.") for o in overrides)
    task = prepare_task(config, None if reads_other_data else folder)
    out = Path(out_dir) if out_dir is not None else Path(folder) / "eval"
    metrics: dict[str, Any] = evaluate(task, model)
    metrics.update(task.analyze(model, out))
    atomic_write_json(out / "metrics.json", metrics)
    return json.loads(json.dumps(metrics, sort_keys=True, default=str))

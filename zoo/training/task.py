"""What the one trainer needs from a family: data, per-batch sums, metrics, samples.

A family registers one `Task` subclass for its `family` name; the trainer, tuner, evaluator and
CLI look it up with `task_for(config)`. All sums a task returns are per replica; the trainer
adds them across replicas, so a metric is always sum(numerator) / sum(denominator).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

_TASKS: dict[str, type["Task"]] = {}


def register_task(family: str):
    def wrap(cls):
        _TASKS[family] = cls
        cls.family = family
        return cls
    return wrap


def task_for(config) -> "Task":
    from zoo.registry import model_entry

    family = model_entry(config.model.name).family
    if family not in _TASKS:
        raise KeyError(f"no task registered for family {family!r}")
    return _TASKS[family](config)


@dataclass
class Stage:
    """One training stage that runs before the task's main (supervised) training.

    The trainer runs `Task.stages(model)` in order, each with its own optimizer and checkpoints
    in `<run_dir>/stages/<name>/`, then the main training of all the model's trainable variables
    (e.g. greedy layer-wise pretraining, seed 004 §3.5: one autoencoder stage per layer).

    name: folder name of the stage's checkpoints and TensorBoard run (`tb/<name>/`).
    batch_sums: (model, batch, training) -> per-replica sums incl. `loss_sum` and `count`.
    variables: () -> the only variables this stage updates (everything else stays bit-identical).
    modules: extra trackables the stage trains and checkpoints (e.g. a decoder), by name.
    epochs: passes over the training split; `max_steps` caps the steps.
    trainer_overrides: `TrainerConfig` fields that differ for this stage's optimizer.
    """
    name: str
    batch_sums: Callable[..., dict]
    variables: Callable[[], list]
    modules: dict[str, Any] = field(default_factory=dict)
    epochs: float = 1.0
    max_steps: int | None = None
    trainer_overrides: dict[str, Any] = field(default_factory=dict)


class Task:
    """Base class; see `zoo.models.byte_rcae.task.ByteAutoencoderTask` for a full example."""

    family: str = ""
    # metric name -> (numerator key, denominator key) over the sums `batch_sums` returns.
    metrics: dict[str, tuple[str, str]] = {"loss": ("loss_sum", "count")}
    # The metric keras-tuner and "best" comparisons minimise.
    objective: str = "loss"

    def __init__(self, config):
        self.config = config

    def load_data(self) -> None:
        """Read the corpus and make the deterministic train/test split (raises ZooDataError)."""
        raise NotImplementedError

    def data_summary(self) -> dict[str, Any]:
        return {}

    def train_dataset(self, model, pass_index: int):
        """Global batches of one pass over the training split, shuffled by `pass_index`."""
        raise NotImplementedError

    def eval_dataset(self, model):
        raise NotImplementedError

    def batch_sums(self, model, batch, training: bool) -> dict:
        """Per-replica sums for this batch; must include the loss sum and its normaliser."""
        raise NotImplementedError

    def batch_group(self, batch) -> str | None:
        """A label for per-group eval metrics (e.g. the recursion depth); None for no groups."""
        return None

    def stages(self, model) -> list[Stage]:
        """Stages to run before the main training (called under the strategy scope); none by default."""
        return []

    def gradient_scales(self, model, batch) -> dict[int, float]:
        """id(variable) -> factor applied to its gradient (shared groups, §3.2 of seed 000)."""
        return {}

    def write_samples(self, model, step: int) -> None:
        """Write a few model outputs as TensorBoard text (called under the eval writer)."""

    def final_metrics(self, model) -> dict[str, Any]:
        return {}

    def evaluate(self, model, out_dir) -> dict[str, Any]:
        """The family's analyses (`zoo eval`): metrics JSON and plots written into `out_dir`."""
        raise NotImplementedError(f"no evaluation defined for family {self.family!r}")

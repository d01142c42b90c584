"""What a task gives the one trainer and the one evaluation loop.

A task (registered with `zoo.registry.register_task`) owns its data, its losses and metrics,
its training phases and its analyses; the recipe's `task:` section names it and fills its typed
`Options`. The pieces:

- `Metric(numerator, denominator, transform)` (`zoo.eval.metrics`): a metric is
  transform(sum(numerator) / sum(denominator)) over the per-replica sums a batch function
  returns (the trainer and the evaluation loop add them across replicas and batches), so
  perplexity and bits per character are metrics like any other.
- `SplitMetric` (`zoo.eval.metrics`): a metric over the whole evaluation split (n-gram counts,
  moments of embeddings, sets), fed the per-example outputs of `eval_sums` batch by batch and
  reduced at the end; evaluated, logged and reported like a `Metric`, never in training windows.
- `Update`: one optimizer step on one variable set: its own loss sums (which receive the phase
  step, e.g. for annealing), its own optimizer settings (any Keras optimizer, schedule,
  clipping), a repeat count (k discriminator updates per generator update), optional gradient
  scales, extra modules to train and checkpoint, its own data stream, and a hook run after
  the update (`zoo.training.hooks`: a moving average of weights, weight clipping).
- Data streams: `Task.train_dataset(model, pass_index, stream=...)`. Every update reads the
  stream it names (`DEFAULT_STREAM`, the training split, unless it says otherwise); each stream
  has its own batches per pass (counted once) and its own position, which follows from the
  phase step, so a resumed run continues every stream where it was. An update may read no
  data (`stream=None`: its sums get `batch=None` and make their own, e.g. a rollout), and its
  sums may sample from the model itself (negatives for a discriminator) inside the step.
- `Phase`: a list of updates applied in order at every step, until the phase's epochs or steps
  are spent. `Task.phases` returns them; the last is the main training (its checkpoints are the
  run's `checkpoints/`, it is evaluated periodically and its weights are the final model),
  earlier ones (e.g. greedy layer-wise pretraining, one phase per layer) run first, each with
  its own resumable checkpoints.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from zoo.eval.metrics import Metric, SplitMetric

DEFAULT_STREAM = "train"   # the training split, `Task.train_dataset(model, pass_index)`
GOALS = ("min", "max")


@dataclass(frozen=True)
class Update:
    """One optimizer update of a phase step.

    sums: `(model, batch, *, step, training) -> per-replica sums`, with the loss sum under
        `loss` and its normaliser under `count` (the loss is their global ratio).
    variables: `() -> list` of the only variables this update changes.
    optimizer: `trainer` settings that differ for this update's optimizer (e.g. learning_rate).
    repeat: applications per phase step, each on its own batch.
    gradient_scales: `(model, batch) -> {id(variable): factor}` applied to the gradients.
    modules: trackables trained by this update besides the model (checkpointed with the phase).
    stream: the data stream whose batches this update reads (`Task.train_dataset(..., stream=)`);
        None: no data, the sums get `batch=None`.
    after: `(model, *, step) -> None`, run inside the distributed step once the gradients are
        applied, in cross-replica context (assignments reach every replica's copy alike): e.g.
        `zoo.training.hooks.MovingAverage.update`, `zoo.training.hooks.clip_weights`. What it
        changes must be checkpointed: the model's weights, or one of `modules`.
    """
    name: str
    sums: Callable[..., dict]
    variables: Callable[[], list]
    optimizer: Mapping[str, Any] = field(default_factory=dict)
    repeat: int = 1
    gradient_scales: Callable[..., dict] | None = None
    modules: Mapping[str, Any] = field(default_factory=dict)
    loss: str = "loss_sum"
    count: str = "count"
    stream: str | None = DEFAULT_STREAM
    after: Callable[..., None] | None = None


@dataclass(frozen=True)
class Phase:
    """Updates applied in order at every step. `epochs` / `max_steps` None: the recipe's
    `trainer.epochs`, `trainer.steps_per_epoch` and `trainer.max_steps` (the main phase).

    A phase without gradient (e.g. an n-gram model's counting) has no updates and an `assign`
    callable instead, which sets the model's weights once; it counts as one step.
    `carried`: trackables the steps change besides training, e.g. the hidden state carried
    from batch to batch in truncated backpropagation through time; checkpointed with the phase."""
    name: str
    updates: tuple[Update, ...]
    epochs: float | None = None
    max_steps: int | None = None
    assign: Callable[[], None] | None = None
    carried: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not self.updates and self.assign is None:
            raise ValueError(f"phase {self.name!r} has no update")
        if self.updates and self.assign is not None:
            raise ValueError(f"phase {self.name!r} has both updates and an assign step")
        names = [u.name for u in self.updates]
        if len(set(names)) != len(names):
            raise ValueError(f"phase {self.name!r} has two updates with the same name: {names}")

    def batches_per_step(self) -> dict[str, int]:
        """Batches each data stream gives per phase step, the phase's lead stream first: the
        stream of its first update that reads data (an epoch of the phase is one pass over it);
        the default stream for a phase that reads none."""
        counts: dict[str, int] = {}
        for u in self.updates:
            if u.stream is not None:
                counts[u.stream] = counts.get(u.stream, 0) + u.repeat
        return counts or {DEFAULT_STREAM: 1}


@dataclass(frozen=True)
class NoOptions:
    """A task without options."""


class Task:
    """Base class of every task; each family folder's `task.py` holds full examples."""

    name: str = ""          # set by register_task
    family: str = ""        # set by register_task
    Options: type = NoOptions
    metrics: dict[str, Metric | SplitMetric] = {"loss": Metric("loss_sum", "count")}
    objective: str = "loss"  # the metric keras-tuner and "best" comparisons optimise (its goal)

    def __init__(self, config):
        self.config = config
        self.options = config.task.options

    # -- data ----------------------------------------------------------------------------------
    def load_data(self) -> None:
        """Read the corpus (or generate the data) and make the deterministic train/test split."""
        raise NotImplementedError

    def save_artifacts(self, folder: Path) -> None:
        """Write into `folder` what `restore` needs besides the recipe (tokenizer, eval split)."""

    def restore(self, folder: Path) -> bool:
        """Set up from a run's or an export's artifacts instead of the corpus; True if it did.
        Tasks whose data is a pure function of the recipe regenerate it."""
        return False

    def data_summary(self) -> dict[str, Any]:
        return {}

    def model_arguments(self) -> dict[str, Any]:
        """Model constructor arguments that follow from the data (e.g. the vocabulary size of a
        tokenizer fitted in `load_data`); the trainer writes them into the run's recipe, and a
        recipe that sets one of them to another value is an error."""
        return {}

    def check_model(self, model) -> None:
        """Raise RecipeError when `model` cannot serve this task (called before training)."""

    def train_dataset(self, model, pass_index: int, stream: str = DEFAULT_STREAM):
        """Global batches of one pass over a data stream, shuffled by `pass_index`: the training
        split for the default stream; a task whose updates name other streams serves them too
        (the trainer passes `stream` only for those)."""
        raise NotImplementedError

    def eval_dataset(self, model):
        """Batches of the test split for the evaluation loop."""
        raise NotImplementedError

    # -- losses and metrics --------------------------------------------------------------------
    def batch_sums(self, model, batch, *, step, training: bool) -> dict:
        """Per-replica sums of one batch: the loss sum and its normaliser, and metric sums."""
        raise NotImplementedError

    def eval_sums(self, model, batch, *, step) -> dict:
        """What the evaluation loop reads from a batch (default: `batch_sums` in inference mode):
        scalar sums, added over replicas and batches for the `Metric`s, and the per-example
        arrays (one row per example) that the task's `SplitMetric`s accumulate."""
        return self.batch_sums(model, batch, step=step, training=False)

    def distributed_eval(self, model) -> bool:
        """Whether the trainer's evaluation may split each eval batch over its replicas; a task
        whose eval batches hand a state on to the next (truncated BPTT) says False and is
        evaluated on one device."""
        return True

    @classmethod
    def goal(cls, metric: str | None = None) -> str:
        """"min" or "max": the direction in which `metric` (default: the objective) improves,
        its `Metric.goal`; "min" for a metric the task does not declare."""
        name = metric or cls.objective
        goal = cls.metrics[name].goal if name in cls.metrics else "min"
        if goal not in GOALS:
            raise ValueError(f"metric {name!r} of task {cls.name!r} has goal {goal!r}; choose min or max")
        return goal

    def batch_group(self, batch) -> str | None:
        """A label for per-group eval metrics (e.g. the recursion depth); None for no groups."""
        return None

    # -- training ------------------------------------------------------------------------------
    def phases(self, model) -> list[Phase]:
        """The training phases (called under the strategy scope); default: one phase updating
        every trainable variable with `batch_sums` and the recipe's optimizer."""
        return [Phase("train", (Update("model", self.batch_sums, lambda: model.trainable_variables,
                                       gradient_scales=self.gradient_scales),))]

    def gradient_scales(self, model, batch) -> dict[int, float]:
        return {}

    # -- reporting -----------------------------------------------------------------------------
    def write_samples(self, model, step: int) -> None:
        """Write a few model outputs as TensorBoard text (called under the eval writer)."""

    def final_metrics(self, model) -> dict[str, Any]:
        """Metrics added to the trainer's final evaluation (e.g. BLEU, train-split metrics)."""
        return {}

    def analyze(self, model, out_dir: Path) -> dict[str, Any]:
        """The task's analyses for `zoo eval`: extra metrics, and plots or files in `out_dir`."""
        return {}

"""The one trainer every task uses: one custom loop over the task's phases under `tf.distribute`.

Keras 3.15 `fit` breaks under MultiWorkerMirroredStrategy (keras issue 20585), so one loop with
`strategy.run` serves MirroredStrategy (local devices) and MultiWorkerMirroredStrategy (TF_CONFIG)
alike. Batch sizes are global; each update's loss is normalised by the global count of scored
positions, so the all-reduced (summed) gradients equal the single-device gradient of the batch.

A task trains in phases (`Task.phases`); each step of a phase applies its updates in order,
each with its own optimizer (`zoo.training.optimizers`), each application on its own batch of
the data stream it reads, then its hook (`Update.after`). Resumable: every phase checkpoints
the model, its optimizers and its modules; a phase's step is its first optimizer's iteration
count, and every stream's position follows from the step (pass k over a stream is shuffled by
k), so a killed run restarts exactly where its last checkpoint was, in whichever phase; a
checkpoint that does not read back whole is skipped for the newest intact one
(`zoo.runs.restore_intact`). SIGTERM/SIGINT save a checkpoint first; `fit` then returns
`interrupted` with the signal (the command line exits 128 + its number).

The run folder is locked (`zoo.runs.run_lock`) while a trainer uses it. A non-finite loss
stops training (`TrainingDiverged`) at the step it appears, and weights are checked finite
before every checkpoint and before `model.keras`: nothing non-finite is ever saved.
"""
from __future__ import annotations

import dataclasses
import json
import math
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.config import ExperimentConfig, RecipeError, load_recipe, save_recipe
from zoo.errors import ZooError
from zoo.io import atomic_save_keras, atomic_write_json, utf8_path
from zoo.provenance import provenance
from zoo.runs import (ARTIFACTS, CHECKPOINTS, KERAS_FILE, METRICS, RECIPE, STAGES, adopt_checkpoint,
                      checkpoint_candidates, model_checkpoint, restore_intact, run_lock)
from zoo.training.strategy import is_chief, make_strategy, worker_id
from zoo.eval.metrics import metric_values
from zoo.training.allocator import tune_malloc
from zoo.training.memory import check_training_memory
from zoo.training.optimizers import make_optimizer
from zoo.training.task import DEFAULT_STREAM, Phase


class TrainingDiverged(ZooError, RuntimeError):
    """The loss or the weights became non-finite (NaN or infinite); nothing of it was saved."""


@dataclass
class PhaseState:
    """A phase as the trainer runs it: optimizers, distributed step functions, checkpoints."""
    phase: Phase
    main: bool
    optimizers: list
    steps: list            # one distributed `step_fn(batch, step)` per update
    checkpoint: object
    manager: object
    directory: Path        # where the chief's checkpoints of this phase are
    steps_per_epoch: int
    total: int
    counter: object = None   # a phase without optimizer (`Phase.assign`): its step, 0 or 1
    best: object = None      # the main phase's best evaluated objective (`lr_schedule: plateau`)

    @property
    def step(self) -> int:
        if not self.optimizers:
            return int(self.counter.numpy())
        return int(self.optimizers[0].iterations.numpy()) // self.phase.updates[0].repeat


class Trainer:
    """Train `config` into its run directory; `fit()` returns the final metrics."""

    def __init__(self, config: ExperimentConfig, *, run_dir: str | Path | None = None,
                 strategy=None, task=None, log=print, on_step=None):
        from zoo.registry import create_task

        self.config = config
        self.run_dir = utf8_path(run_dir if run_dir is not None else config.run_dir, "run folder", RecipeError)
        self.strategy = strategy or make_strategy(config.runtime.strategy, config.runtime.logical_cpus)
        self.task = task or create_task(config)
        self.chief = is_chief(self.strategy)
        self.log = log if self.chief else (lambda *a, **k: None)
        self.on_step = on_step  # (step, total) after every step of the main phase (a progress display)
        self._stop_requested = False
        self._stop_signal = None
        self._data_loaded = False

    # -- setup -------------------------------------------------------------------------------
    def _has_trained(self) -> bool:
        """Whether the run folder holds weights (a model or any checkpoint) a rerun would resume."""
        if (self.run_dir / KERAS_FILE).is_file() or checkpoint_candidates(self.run_dir / CHECKPOINTS):
            return True
        stages = self.run_dir / STAGES
        return stages.is_dir() and any(checkpoint_candidates(d) for d in stages.iterdir())

    def _check_run_dir(self):
        # Only a recipe whose run saved weights binds the folder: a start that failed before
        # its first checkpoint (a bad model argument) must not block the corrected rerun.
        recipe = self.run_dir / RECIPE
        if recipe.is_file() and self._has_trained():
            try:
                previous = load_recipe(recipe)
            except RecipeError as e:
                raise RecipeError(f"run directory {str(self.run_dir)!r}: {e}") from None
            if previous.to_dict()["model"] != self.config.to_dict()["model"]:
                raise RecipeError(
                    f"run directory {str(self.run_dir)!r} holds a different model "
                    f"({previous.model.name} {dict(previous.model.args)}); choose another with "
                    f"--set runtime.run_dir=... or delete it")

    def _check_batch(self):
        replicas = self.strategy.num_replicas_in_sync
        batch = self.config.data.batch_size
        if batch < replicas:
            # An empty per-replica batch would reach the model (and crash inside a kernel).
            raise RecipeError(f"data.batch_size ({batch}) is smaller than the number of replicas "
                              f"({replicas}): every replica needs at least one example; raise "
                              f"data.batch_size to {replicas} or set runtime.strategy=one_device")

    def _lock_dir(self) -> Path:
        # Workers of a multi-worker run share the run folder with the chief: each locks its own.
        return self.run_dir if self.chief else self.run_dir / "workers" / f"worker{worker_id(self.strategy)}"

    def load_data(self):
        if not self._data_loaded:
            self.task.load_data()
            self._adopt_model_arguments()
            self._data_loaded = True

    def _adopt_model_arguments(self):
        """Write the model arguments the data decides (`Task.model_arguments`) into the config,
        so the run's recipe rebuilds the same model without the data."""
        import dataclasses as dc

        from zoo.config import ModelConfig, freeze

        derived = self.task.model_arguments()
        if not derived:
            return
        args = self.config.model.kwargs()
        for key, value in derived.items():
            if key in args and args[key] != value:
                raise RecipeError(f"model.{key} is {args[key]!r} in the recipe but the data gives "
                                  f"{value!r} (task {self.task.name}); remove it from the recipe")
        model = ModelConfig(self.config.model.name, freeze({**args, **derived}))
        self.config = dc.replace(self.config, model=model)
        self.task.config = self.config

    def _own_dir(self, relative: Path) -> Path:
        """Where this process saves a phase's checkpoints: non-chief workers must save too
        (variables may be synchronised), each into its own folder."""
        if self.chief:
            return self.run_dir / relative
        own = self.run_dir / "workers" / f"worker{worker_id(self.strategy)}"
        return own if relative == Path(CHECKPOINTS) else own / relative

    def build(self, batches_per_pass: int | None = None) -> "Trainer":
        """Create the model, the task's phases and their optimizers and step functions, and
        restore the latest checkpoint. Data must be loaded (`load_data`)."""
        import tensorflow as tf

        cfg, t = self.config, self.config.trainer
        self._check_batch()
        # A model that cannot fit is refused here, with its size, not by an OOM minutes later.
        check_training_memory(cfg)
        self.malloc = tune_malloc()   # before any step: TensorFlow's tf.data patch slows them (allocator.py)
        if t.average_checkpoints > t.keep_checkpoints:
            raise RecipeError(f"trainer.average_checkpoints ({t.average_checkpoints}) exceeds "
                              f"trainer.keep_checkpoints ({t.keep_checkpoints}): keep at least as many")
        if batches_per_pass is None:
            batches_per_pass = self._count_batches(self._create_model())
        self.batches_per_pass = batches_per_pass
        with self.strategy.scope():
            self.model = self._create_model(build=True)
            phases = list(self.task.phases(self.model))
        if not phases:
            raise RecipeError(f"task {self.task.name!r} declares no training phase")
        # Batches per pass of every stream, counted once: its positions follow from them.
        self.stream_batches = {DEFAULT_STREAM: batches_per_pass}
        for phase in phases:
            for stream in phase.batches_per_step():
                if stream not in self.stream_batches:
                    self.stream_batches[stream] = self._count_batches(self.model, stream)
        self.phase_states = [self._phase_state(p, i == len(phases) - 1) for i, p in enumerate(phases)]
        self.start_phase = 0
        for i in reversed(range(len(self.phase_states))):
            state = self.phase_states[i]
            latest = restore_intact(state.checkpoint, state.directory)
            if latest:
                if self.chief and Path(latest).name != Path(state.manager.latest_checkpoint or "").name:
                    # Newer checkpoints were unreadable: continue the folder's list from this one.
                    adopt_checkpoint(state.directory, latest)
                    keep = self.config.trainer.keep_checkpoints if state.main else 1
                    state.manager = tf.train.CheckpointManager(state.checkpoint, str(state.directory),
                                                               max_to_keep=keep)
                self.start_phase = i
                where = "" if state.main else f" (phase {state.phase.name})"
                self.log(f"resumed from {latest}{where} at step {state.step}")
                break
        from zoo.eval.loop import Evaluator
        self.evaluator = Evaluator(self.task, self.model, self.strategy)
        return self

    def _create_model(self, build: bool = False):
        from zoo.registry import create_model

        cfg = self.config
        try:
            return create_model(cfg.model.name, build=build, **cfg.model.kwargs())
        except (ValueError, TypeError) as e:
            # The constructor's own check of an argument (e.g. "pooling must be one of ..."):
            # a recipe error, on one line.
            text = " ".join(str(e).split())
            raise RecipeError(f"model {cfg.model.name!r} cannot be built from the recipe: {text}") from e

    def _phase_state(self, phase: Phase, main: bool) -> PhaseState:
        import tensorflow as tf

        t = self.config.trainer
        lead, per_step = next(iter(phase.batches_per_step().items()))
        per_pass = max(1, self.stream_batches[lead] // per_step)
        steps_per_epoch = (t.steps_per_epoch or per_pass) if main else per_pass
        epochs = t.epochs if phase.epochs is None else phase.epochs
        total = int(math.ceil(epochs * steps_per_epoch))
        cap = t.max_steps if phase.epochs is None else phase.max_steps
        if cap is not None:
            total = min(total, cap)
        optimizers, steps, tracked = [], [], {}
        counter = best = None
        if phase.assign is not None:   # no gradient: one assignment, one step
            total = 1
            counter = tf.Variable(0, dtype=tf.int64, trainable=False, name="assigned")
            tracked["assigned"] = counter
        if main and t.lr_schedule == "plateau":
            worst = -math.inf if self.task.goal() == "max" else math.inf
            best = tf.Variable(worst, dtype=tf.float64, trainable=False, name="best_objective")
            tracked["best_objective"] = best
        for i, update in enumerate(phase.updates):
            with self.strategy.scope():
                optimizer = make_optimizer(self._update_settings(phase, update), steps_per_epoch,
                                           total * update.repeat)
                optimizer.build(update.variables())
            optimizers.append(optimizer)
            steps.append(self._make_update_step(update, optimizer))
            tracked["optimizer" if i == 0 else f"optimizer_{update.name}"] = optimizer
            for key, module in update.modules.items():
                if key in tracked or key == "model_weights":
                    raise ValueError(f"phase {phase.name!r}: checkpoint key {key!r} is used twice")
                tracked[key] = module
        for key, module in phase.carried.items():
            if key in tracked or key == "model_weights":
                raise ValueError(f"phase {phase.name!r}: checkpoint key {key!r} is used twice")
            tracked[key] = module
        relative = Path(CHECKPOINTS) if main else Path(STAGES) / phase.name
        checkpoint = model_checkpoint(self.model, **tracked)
        manager = tf.train.CheckpointManager(checkpoint, str(self._own_dir(relative)),
                                             max_to_keep=t.keep_checkpoints if main else 1)
        return PhaseState(phase, main, optimizers, steps, checkpoint, manager,
                          self.run_dir / relative, steps_per_epoch, total, counter, best)

    def _update_settings(self, phase: Phase, update):
        """The trainer settings of one update: the recipe's, changed by `Update.optimizer`. An
        update naming another optimizer does not inherit the recipe's `optimizer_args`."""
        t = self.config.trainer
        valid = {f.name for f in dataclasses.fields(t)}
        unknown = set(update.optimizer) - valid
        if unknown:
            raise RecipeError(f"update {update.name!r} of phase {phase.name!r} sets unknown "
                              f"trainer keys {sorted(unknown)}")
        changes = dict(update.optimizer)
        if changes.get("optimizer", t.optimizer) != t.optimizer:
            changes.setdefault("optimizer_args", {})
        try:
            return dataclasses.replace(t, **changes)
        except ValueError as e:
            raise RecipeError(f"update {update.name!r} of phase {phase.name!r}: {e}") from None

    def _train_dataset(self, model, pass_index: int, stream: str):
        if stream == DEFAULT_STREAM:   # the families' own signature: (model, pass_index)
            return self.task.train_dataset(model, pass_index)
        return self.task.train_dataset(model, pass_index, stream=stream)

    def _count_batches(self, model, stream: str = DEFAULT_STREAM) -> int:
        if stream == DEFAULT_STREAM:
            self.task.check_model(model)
        n = sum(1 for _ in self._train_dataset(model, 0, stream))
        if n == 0:
            what = "the training split" if stream == DEFAULT_STREAM else f"data stream {stream!r}"
            raise RecipeError(f"{what} yields no batch; use more data or a smaller batch")
        return n

    # -- steps -------------------------------------------------------------------------------
    def _make_update_step(self, update, optimizer):
        """A distributed `step_fn(batch, step)` applying `update` once with `optimizer`."""
        import tensorflow as tf

        strategy, model = self.strategy, self.model
        jit = bool(self.config.runtime.jit_compile)

        def replica_step(batch, step):
            ctx = tf.distribute.get_replica_context()
            with tf.GradientTape() as tape:
                sums = update.sums(model, batch, step=step, training=True)
                global_count = ctx.all_reduce(tf.distribute.ReduceOp.SUM, sums[update.count])
                loss = sums[update.loss] / tf.maximum(global_count, 1.0)
            variables = update.variables()
            grads = tape.gradient(loss, variables)
            scales = update.gradient_scales(model, batch) if update.gradient_scales else {}
            # Variables off this batch's path (recursion groups at depth 0) get no update at all.
            pairs = [(g * scales[id(v)] if id(v) in scales else g, v)
                     for g, v in zip(grads, variables) if g is not None]
            optimizer.apply_gradients(pairs)
            return sums

        if jit:
            replica_step = tf.function(replica_step, jit_compile=True)

        @tf.function
        def step_fn(batch, step):
            sums = strategy.run(replica_step, args=(batch, step))
            if update.after is not None:
                update.after(model, step=step)   # cross-replica: after every replica's update
            return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in sums.items()}

        return step_fn

    def train_step(self, batch, update: int = 0):
        """One application of an update of the main phase on a distributed batch (benchmarks)."""
        import tensorflow as tf

        state = self.phase_states[-1]
        return state.steps[update](batch, tf.constant(state.step, tf.int64))

    def _batches(self, stream: str, index: int):
        """Distributed batches of a data stream from its global batch `index` on, for ever.

        Pass k over a stream is shuffled by k and batch i is batch `i % n` of pass `i // n`
        (n: the stream's batches per pass), so a resumed run sees exactly the data it would have.
        """
        import tensorflow as tf

        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        while True:
            pass_index, offset = divmod(index, self.stream_batches[stream])
            ds = self._train_dataset(self.model, pass_index, stream).skip(offset).with_options(options)
            for batch in self.strategy.experimental_distribute_dataset(ds):
                yield batch
                index += 1

    # -- evaluation --------------------------------------------------------------------------
    def evaluate(self, step: int = 0) -> dict:
        return self.evaluator(self.task.eval_dataset(self.model), step)

    # -- the loop ----------------------------------------------------------------------------
    @property
    def stop_signal(self) -> int | None:
        """The SIGTERM/SIGINT received during `fit` (also one that came after the last step,
        during the final evaluation, which lets the run finish), else None."""
        return self._stop_signal if self._stop_requested else None

    def _on_signal(self, signum, frame):
        self._stop_requested = True
        self._stop_signal = signum

    def fit(self) -> dict:
        """Train (or resume) to the end; the final metrics, or `{"interrupted": True, "signal":
        signum, "step": ...}` when SIGTERM/SIGINT stopped it after saving a checkpoint."""
        self._check_batch()  # before the lock creates the run folder
        with run_lock(self._lock_dir()):
            return self._fit()

    def _fit(self) -> dict:
        import keras

        # The data first: the run's saved recipe holds the model arguments the data decided
        # (`Task.model_arguments`), so the recipe being resumed is compared once it has them too.
        self.load_data()
        cfg = self.config
        self._check_run_dir()
        if self.chief:
            self.task.save_artifacts(self.run_dir / ARTIFACTS)
        # Op determinism is process-wide and changes results: set it either way, so a run after a
        # deterministic one (zoo report) trains as in a fresh process; before the seed, whose
        # tf.random.set_seed clears the eager kernels made under the previous setting.
        set_op_determinism(cfg.runtime.deterministic)
        keras.utils.set_random_seed(cfg.trainer.seed)
        self.build()
        if self.chief:  # written once the model is built: a failed start leaves no recipe behind
            save_recipe(self.config, self.run_dir / RECIPE)

        tb = self.run_dir / "tb"
        if self.chief:
            self._write_hparams(tb)
        main = self.phase_states[-1]
        self.log(f"training {cfg.model.name} ({self.model.count_params():,} parameters) on "
                 f"{self.strategy.num_replicas_in_sync} replica(s), {self.batches_per_pass} batches per "
                 f"pass, {main.total} steps -> {self.run_dir}")
        old_handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)
                        } if _main_thread() else {}
        try:
            for state in self.phase_states[self.start_phase:]:
                result = self._run_phase(state, tb)
                if result is not None:
                    return result
        finally:
            for s, h in old_handlers.items():
                signal.signal(s, h)
        return self._finish(main, tb)

    def _writer(self, path: Path):
        import tensorflow as tf
        return tf.summary.create_file_writer(str(path)) if self.chief else tf.summary.create_noop_writer()

    def _run_phase(self, state: PhaseState, tb: Path) -> dict | None:
        """Run one phase from its step to its total; a dict if the run stopped early."""
        import keras
        import tensorflow as tf

        t, phase = self.config.trainer, state.phase
        step = state.step
        if not state.main:
            if step >= state.total:
                return None
            self.log(f"phase {phase.name}: {state.total} steps" + (f", resumed at {step}" if step else ""))
        writer = self._writer(tb / ("train" if state.main else phase.name))
        self._eval_writer = self._writer(tb / "eval") if state.main else None
        progbar = None
        if state.main and self.chief and self.config.runtime.progress:
            progbar = keras.utils.Progbar(state.total, verbose=1 if sys.stdout.isatty() else 0,
                                          stateful_metrics=["loss", self.task.objective])
        self._phase_start = time.time()
        if state.main:
            self._started_at = step  # the main phase's step when this process took it up
        deadline = (time.time() + 60 * t.max_minutes) if (state.main and t.max_minutes) else None
        windows = [dict() for _ in phase.updates]
        window_start = time.time()
        if phase.assign is not None:
            if step < state.total:
                phase.assign()
                state.counter.assign(1)
                step = 1
                self._save_checkpoint(state, step)
            writer.flush()
            return None
        streams = {name: self._batches(name, step * n) for name, n in phase.batches_per_step().items()}
        while step < state.total:
            step_t = tf.constant(step, tf.int64)
            for update, fn, window in zip(phase.updates, state.steps, windows):
                for _ in range(update.repeat):
                    batch = None if update.stream is None else next(streams[update.stream])
                    for k, v in fn(batch, step_t).items():
                        value = float(v)  # the window sums read every step anyway: no extra sync
                        if k == update.loss and not math.isfinite(value):
                            self._diverged(state, step + 1, f"the loss of update {update.name!r} is {value}")
                        window[k] = window.get(k, 0.0) + value
            step += 1
            if progbar is not None:
                progbar.update(step, list(metric_values(self.task.metrics, windows[0]).items()))
            if state.main and self.on_step is not None:
                self.on_step(step, state.total)
            if step % t.log_every_steps == 0 or step == state.total:
                self._log_train(writer, state, step, windows, time.time() - window_start)
                windows, window_start = [dict() for _ in phase.updates], time.time()
            if step % t.checkpoint_every_steps == 0:
                self._save_checkpoint(state, step)
            if state.main and step % t.eval_every_steps == 0 and step < state.total:
                self._plateau(state, self._check_eval(state, step, self._log_eval(self._eval_writer, step)))
            if self._stop_requested or (deadline and time.time() > deadline):
                break
        self._save_checkpoint(state, step)
        writer.flush()
        if self._stop_requested:
            where = "" if state.main else f" in phase {phase.name}"
            name = signal.Signals(self._stop_signal).name if self._stop_signal else "signal"
            self.log(f"stopped by {name}{where} at step {step}; checkpoint saved, rerun to resume")
            return {"step": step, "phase": phase.name, "interrupted": True, "signal": self._stop_signal}
        return None

    def _plateau(self, state: PhaseState, metrics: dict):
        """`lr_schedule: plateau`: lower the learning rate when the objective did not improve
        on the best evaluation so far, in the direction of its goal (word-level PTB practice:
        divide by 1.5)."""
        if state.best is None:
            return
        value = float(metrics.get(self.task.objective, math.nan))
        best = float(state.best.numpy())
        if (value > best) if self.task.goal() == "max" else (value < best):
            state.best.assign(value)
            return
        factor = self.config.trainer.lr_decay_factor
        for optimizer in state.optimizers:
            optimizer.learning_rate.assign(float(optimizer.learning_rate.numpy()) * factor)
        self.log(f"{self.task.objective} {value:.4f} did not improve on {float(state.best.numpy()):.4f}: "
                 f"learning rate x {factor:g} -> {float(state.optimizers[0].learning_rate.numpy()):.4g}")

    def _save_checkpoint(self, state: PhaseState, step: int):
        if not _finite_weights(self.model):
            self._diverged(state, step, "the weights are not finite")
        state.manager.save(checkpoint_number=step)

    def _check_eval(self, state: PhaseState, step: int, metrics: dict) -> dict:
        """Weights can be finite and useless (a learning rate of 1e30 takes them to ~1e30 in one
        step, after the step's own loss was read): a non-finite evaluated loss or objective is
        divergence too, caught before model.keras, metrics.json or an export are written."""
        for key in dict.fromkeys((self.task.objective, "loss")):
            value = metrics.get(key)
            if isinstance(value, float) and not math.isfinite(value):
                self._diverged(state, step, f"the evaluated {key} is {value}")
        return metrics

    def _diverged(self, state: PhaseState, step: int, what: str):
        latest = state.manager.latest_checkpoint
        kept = (f"the last checkpoint ({Path(latest).name}, all finite) is kept" if latest
                else "no checkpoint was saved")
        where = "" if state.main else f" in phase {state.phase.name}"
        raise TrainingDiverged(
            f"training diverged at step {step}{where}: {what}; stopped without saving these weights, "
            f"{kept}. Lower trainer.learning_rate or set trainer.clipnorm")

    def _finish(self, main: PhaseState, tb: Path) -> dict:
        step = main.step
        averaged = self._average_checkpoints(main)
        if not _finite_weights(self.model):
            self._diverged(main, step, "the final weights are not finite")
        metrics = self._check_eval(main, step, self._log_eval(self._eval_writer or self._writer(tb / "eval"), step))
        if averaged:
            metrics["averaged_checkpoints"] = averaged
        metrics.update(self.task.final_metrics(self.model))
        metrics.update(step=step, train_seconds=round(time.time() - self._phase_start, 1),
                       parameters=int(self.model.count_params()),
                       provenance={**provenance(), "malloc": self.malloc})
        metrics = self._keep_recorded(metrics, main)
        if self.chief:
            atomic_save_keras(self.model, self.run_dir / KERAS_FILE)
            atomic_write_json(self.run_dir / METRICS, metrics)
        self.log("final: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                       for k, v in sorted(metrics.items())
                                       if not isinstance(v, (dict, list))))
        return metrics

    def _keep_recorded(self, metrics: dict, main: PhaseState) -> dict:
        """A run that was already finished (no step trained in this process) keeps what its
        metrics.json recorded: its training time, and keys written there by others; the
        evaluation, deterministic per run, is refreshed."""
        if getattr(self, "_started_at", 0) < main.total:
            return metrics
        try:
            recorded = json.loads((self.run_dir / METRICS).read_text())
        except (OSError, ValueError):
            return metrics
        if not isinstance(recorded, dict) or recorded.get("step") != metrics["step"]:
            return metrics
        kept = {**recorded, **metrics}
        for key in ("train_seconds", "provenance"):
            if key in recorded:
                kept[key] = recorded[key]
        self.log(f"the run had already finished at step {main.total}: its recorded training time "
                 f"({recorded.get('train_seconds')} s) is kept")
        return kept

    def _average_checkpoints(self, main: PhaseState) -> list[int]:
        """Replace the model's weights by the mean over the last `average_checkpoints` saved
        checkpoints (checkpoint averaging as in Vaswani et al., "Attention Is All You Need",
        §6.1: the mean of the last 5 checkpoints).

        The checkpoints themselves keep the raw weights, so a resumed run continues unchanged;
        only the final evaluation, `model.keras` and exports see the average.
        """
        n = int(self.config.trainer.average_checkpoints)
        paths = list(main.manager.checkpoints)[-n:]
        if n <= 1 or len(paths) < 2:
            return []
        reader = model_checkpoint(self.model)
        # Only float weights are averaged; anything else (e.g. a seed state) keeps its last value.
        variables = [v for v in self.model.weights if np.issubdtype(np.dtype(v.dtype), np.floating)]
        total = [np.zeros(v.shape, np.float64) for v in variables]
        for path in paths:
            reader.restore(path).expect_partial()
            for acc, v in zip(total, variables):
                acc += np.asarray(v.numpy(), np.float64)
        for acc, v in zip(total, variables):
            v.assign((acc / len(paths)).astype(v.dtype))
        steps = [int(p.rsplit("-", 1)[-1]) for p in paths]
        self.log(f"final weights: mean of checkpoints at steps {steps}")
        return steps

    def _log_train(self, writer, state: PhaseState, step, windows, seconds):
        import tensorflow as tf

        several = len(state.phase.updates) > 1
        with writer.as_default(step=step):
            for update, optimizer, window in zip(state.phase.updates, state.optimizers, windows):
                suffix = f"/{update.name}" if several else ""
                for name, value in metric_values(self.task.metrics, window).items():
                    tf.summary.scalar(name + suffix, value)
                # A plain learning rate (plateau) is a variable, mirrored under MirroredStrategy.
                tf.summary.scalar("learning_rate" + suffix,
                                  float(tf.convert_to_tensor(optimizer.learning_rate)))
            first = windows[0]
            if state.main and seconds > 0 and "count" in first:
                tf.summary.scalar("positions_per_second", first["count"] / seconds)

    def _log_eval(self, writer, step) -> dict:
        import tensorflow as tf

        metrics = self.evaluate(step)
        with writer.as_default(step=step):
            for k, v in metrics.items():
                tf.summary.scalar(k, v)
            if self.chief:
                self.task.write_samples(self.model, step)
        writer.flush()
        shown = ", ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items()) if "_depth" not in k)
        self.log(f"step {step}: eval {shown}")
        return metrics

    def _write_hparams(self, tb: Path):
        import tensorflow as tf
        from tensorboard.plugins.hparams import api as hp

        hparams = self.config.hparams()
        with tf.summary.create_file_writer(str(tb)).as_default():
            hp.hparams_config(
                hparams=[hp.HParam(k) for k in hparams],
                metrics=[hp.Metric(name, group="eval", display_name=f"eval {name}")
                         for name in self.task.metrics])
            hp.hparams(hparams, trial_id=self.config.name)


def set_op_determinism(on: bool):
    """`tf.config.experimental.enable_op_determinism()`, or its undoing (no public name in TF 2.21)."""
    from tensorflow.python.framework import config as tf_config

    (tf_config.enable_op_determinism if on else tf_config.disable_op_determinism)()


def _finite_weights(model) -> bool:
    """Whether every float weight is finite (one reduction, read once per checkpoint)."""
    import tensorflow as tf

    checks = [tf.reduce_all(tf.math.is_finite(tf.convert_to_tensor(v))) for v in model.weights
              if "float" in str(v.dtype)]
    return bool(tf.reduce_all(tf.stack(checks))) if checks else True


def _main_thread() -> bool:
    import threading
    return threading.current_thread() is threading.main_thread()


def train(config: ExperimentConfig, **kwargs) -> dict:
    return Trainer(config, **kwargs).fit()

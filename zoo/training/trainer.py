"""The one trainer every family uses: a custom loop under `tf.distribute`.

Keras 3.15 `fit` breaks under MultiWorkerMirroredStrategy (keras issue 20585), so one loop with
`strategy.run` serves MirroredStrategy (local devices) and MultiWorkerMirroredStrategy (TF_CONFIG)
alike. Batch sizes are global; the loss is normalised by the global count of scored positions so
that the all-reduced (summed) gradients equal the single-device gradient of the global batch.

Resumable: `tf.train.CheckpointManager` keeps model, optimizer (slots, iteration count) and the
data position follows from the step (each pass over the data is shuffled by its pass index), so a
killed run restarts exactly where its last checkpoint was. SIGTERM/SIGINT save a checkpoint first.
"""
from __future__ import annotations

import math
import signal
import sys
import time
from pathlib import Path

import numpy as np

from zoo.config import ExperimentConfig, RecipeError, save_recipe, load_recipe
from zoo.training.run import atomic_save_keras, atomic_write_json, model_checkpoint
from zoo.training.strategy import is_chief, make_strategy, worker_id


def make_optimizer(trainer_config, steps_per_epoch: int):
    """SGD with momentum and a step-halving learning rate (seed 000 §3.2) or Adam."""
    import keras

    t = trainer_config
    decay_steps = max(1, int(round(t.lr_decay_every_epochs * steps_per_epoch)))
    schedule = keras.optimizers.schedules.ExponentialDecay(
        t.learning_rate, decay_steps, t.lr_decay_factor, staircase=True)
    common = dict(learning_rate=schedule, weight_decay=t.weight_decay or None, clipnorm=t.clipnorm)
    if t.optimizer == "sgd":
        return keras.optimizers.SGD(momentum=t.momentum, **common)
    if t.optimizer == "adam":
        return keras.optimizers.Adam(**common)
    raise RecipeError(f"unknown trainer.optimizer {t.optimizer!r}; choose sgd or adam")


class Trainer:
    """Train `config` into its run directory; `fit()` returns the final metrics."""

    def __init__(self, config: ExperimentConfig, *, run_dir: str | Path | None = None,
                 strategy=None, task=None, log=print):
        from zoo.training.task import task_for

        self.config = config
        self.run_dir = Path(run_dir) if run_dir is not None else config.run_dir
        self.strategy = strategy or make_strategy(config.runtime.strategy, config.runtime.logical_cpus)
        self.task = task or task_for(config)
        self.chief = is_chief(self.strategy)
        self.log = log if self.chief else (lambda *a, **k: None)
        self._stop_requested = False

    # -- setup -------------------------------------------------------------------------------
    def _check_run_dir(self):
        recipe = self.run_dir / "recipe.yaml"
        if recipe.is_file():
            previous = load_recipe(recipe)
            if previous.to_dict()["model"] != self.config.to_dict()["model"]:
                raise RecipeError(
                    f"run directory {str(self.run_dir)!r} holds a different model "
                    f"({previous.model.name} {previous.model.args}); choose another with "
                    f"--set runtime.run_dir=... or delete it")
        if self.chief:
            save_recipe(self.config, recipe)

    def _build(self, steps_per_epoch):
        import tensorflow as tf

        from zoo.registry import create_model

        with self.strategy.scope():
            self.model = create_model(self.config.model.name, build=True, **self.config.model.args)
            self.optimizer = make_optimizer(self.config.trainer, steps_per_epoch)
            self.optimizer.build(self.model.trainable_variables)
        t = self.config.trainer
        if t.average_checkpoints > t.keep_checkpoints:
            raise RecipeError(f"trainer.average_checkpoints ({t.average_checkpoints}) exceeds "
                              f"trainer.keep_checkpoints ({t.keep_checkpoints}): keep at least as many")
        self.checkpoint = model_checkpoint(self.model, optimizer=self.optimizer)
        ckpt_dir = self.run_dir / "checkpoints"
        # Non-chief workers must also save (variables may be synchronised), each into its own dir.
        own_dir = ckpt_dir if self.chief else self.run_dir / "workers" / f"worker{worker_id(self.strategy)}"
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(own_dir),
                                                  max_to_keep=self.config.trainer.keep_checkpoints)
        latest = tf.train.latest_checkpoint(str(ckpt_dir))
        if latest:
            self.checkpoint.restore(latest).assert_existing_objects_matched()
            self.log(f"resumed from {latest} at step {int(self.optimizer.iterations.numpy())}")
        return latest

    def _count_batches(self) -> int:
        n = sum(1 for _ in self.task.train_dataset(self.model, 0))
        if n == 0:
            raise RecipeError("the training split yields no batch; use more data or a smaller batch")
        return n

    # -- steps -------------------------------------------------------------------------------
    def _make_train_step(self, sums_fn, variables_fn, optimizer, scales_fn=None):
        """A distributed train step of `sums_fn` updating `variables_fn()` with `optimizer`."""
        import tensorflow as tf

        strategy, model = self.strategy, self.model
        jit = bool(self.config.runtime.jit_compile)

        def replica_step(batch):
            ctx = tf.distribute.get_replica_context()
            with tf.GradientTape() as tape:
                sums = sums_fn(model, batch, training=True)
                global_count = ctx.all_reduce(tf.distribute.ReduceOp.SUM, sums["count"])
                loss = sums["loss_sum"] / tf.maximum(global_count, 1.0)
            variables = variables_fn()
            grads = tape.gradient(loss, variables)
            scales = scales_fn(model, batch) if scales_fn else {}
            # Variables off this batch's path (recursion groups at depth 0) get no update at all.
            pairs = [(g * scales[id(v)] if id(v) in scales else g, v)
                     for g, v in zip(grads, variables) if g is not None]
            optimizer.apply_gradients(pairs)
            return sums

        if jit:
            replica_step = tf.function(replica_step, jit_compile=True)

        @tf.function
        def train_step(batch):
            sums = strategy.run(replica_step, args=(batch,))
            return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in sums.items()}

        return train_step

    def _make_steps(self):
        import tensorflow as tf

        task, model = self.task, self.model
        self.train_step = self._make_train_step(task.batch_sums, lambda: model.trainable_variables,
                                                self.optimizer, task.gradient_scales)

        @tf.function
        def eval_step(batch):
            return task.batch_sums(model, batch, training=False)

        self.eval_step = eval_step

    def _batches(self, step: int, batches_per_pass: int):
        """Distributed training batches from global `step` on, for ever.

        Pass k over the data is shuffled by k and a step's batch is batch `step % batches_per_pass`
        of pass `step // batches_per_pass`, so a resumed run sees exactly the data it would have.
        """
        import tensorflow as tf

        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        while True:
            pass_index, offset = divmod(step, batches_per_pass)
            ds = self.task.train_dataset(self.model, pass_index).skip(offset).with_options(options)
            for batch in self.strategy.experimental_distribute_dataset(ds):
                yield batch
                step += 1

    # -- stages (optional, Task.stages) ------------------------------------------------------
    def _run_stages(self, batches_per_pass: int) -> bool:
        """Run the task's stages in order before the main training; False if stopped early.

        Each stage checkpoints model + its modules + its own optimizer into `stages/<name>/`
        (the last one kept: for greedy pretraining, one checkpoint per depth). On a rerun a
        finished stage is restored and skipped, an unfinished one resumes at its step.
        """
        import dataclasses

        import tensorflow as tf

        with self.strategy.scope():
            stages = self.task.stages(self.model)
        if not stages:
            return True
        old_handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)
                        } if _main_thread() else {}
        try:
            for stage in stages:
                t = dataclasses.replace(self.config.trainer, **stage.trainer_overrides)
                total = int(math.ceil(stage.epochs * batches_per_pass))
                if stage.max_steps is not None:
                    total = min(total, stage.max_steps)
                with self.strategy.scope():
                    optimizer = make_optimizer(t, batches_per_pass)
                    optimizer.build(stage.variables())
                ckpt = model_checkpoint(self.model, optimizer=optimizer, **stage.modules)
                own = self.run_dir / "stages" / stage.name
                if not self.chief:
                    own = self.run_dir / "workers" / f"worker{worker_id(self.strategy)}" / "stages" / stage.name
                manager = tf.train.CheckpointManager(ckpt, str(own), max_to_keep=1)
                latest = tf.train.latest_checkpoint(str(self.run_dir / "stages" / stage.name))
                if latest:
                    ckpt.restore(latest).assert_existing_objects_matched()
                step = int(optimizer.iterations.numpy())
                if step >= total:
                    continue
                self.log(f"stage {stage.name}: {total} steps" + (f", resumed at {step}" if step else ""))
                train_step = self._make_train_step(stage.batch_sums, stage.variables, optimizer)
                writer = (tf.summary.create_file_writer(str(self.run_dir / "tb" / stage.name))
                          if self.chief else tf.summary.create_noop_writer())
                window: dict[str, float] = {}
                for batch in self._batches(step, batches_per_pass):
                    if step >= total or self._stop_requested:
                        break
                    for k, v in train_step(batch).items():
                        window[k] = window.get(k, 0.0) + float(v)
                    step += 1
                    if step % t.log_every_steps == 0 or step == total:
                        with writer.as_default(step=step):
                            tf.summary.scalar("loss", window["loss_sum"] / max(window["count"], 1e-9))
                        window = {}
                    if step % t.checkpoint_every_steps == 0:
                        manager.save(checkpoint_number=step)
                manager.save(checkpoint_number=step)
                writer.flush()
                if self._stop_requested:
                    self.log(f"stopped by signal in stage {stage.name} at step {step}; rerun to resume")
                    return False
        finally:
            for s, h in old_handlers.items():
                signal.signal(s, h)
        return True

    # -- evaluation --------------------------------------------------------------------------
    def evaluate(self) -> dict:
        totals: dict[str, dict[str, float]] = {}
        for batch in self.task.eval_dataset(self.model):
            sums = {k: float(v) for k, v in self.eval_step(batch).items()}
            for group in (None, self.task.batch_group(batch)):
                acc = totals.setdefault(group, {})
                for k, v in sums.items():
                    acc[k] = acc.get(k, 0.0) + v
        result = {}
        for group, acc in totals.items():
            for name, (num, den) in self.task.metrics.items():
                if acc.get(den):
                    result[name if group is None else f"{name}_{group}"] = acc[num] / acc[den]
        return result

    # -- loop --------------------------------------------------------------------------------
    def _on_signal(self, signum, frame):
        self._stop_requested = True

    def fit(self) -> dict:
        import keras
        import numpy as np
        import tensorflow as tf

        cfg, t = self.config, self.config.trainer
        self._check_run_dir()
        self.task.load_data()
        keras.utils.set_random_seed(t.seed)
        if cfg.runtime.deterministic:
            tf.config.experimental.enable_op_determinism()
        # Build a throwaway model first to count batches (bucketing makes the count data-dependent).
        from zoo.registry import create_model
        self.model = create_model(cfg.model.name, **cfg.model.args)
        batches_per_pass = self._count_batches()
        steps_per_epoch = t.steps_per_epoch or batches_per_pass
        total_steps = int(math.ceil(t.epochs * steps_per_epoch))
        if t.max_steps is not None:
            total_steps = min(total_steps, t.max_steps)
        resumed = self._build(steps_per_epoch)
        # Stages (if the task has any) run once, before the first main checkpoint exists.
        if not resumed and not self._run_stages(batches_per_pass):
            return {"step": 0, "interrupted": True}
        self._make_steps()

        tb = self.run_dir / "tb"
        if self.chief:
            train_writer = tf.summary.create_file_writer(str(tb / "train"))
            eval_writer = tf.summary.create_file_writer(str(tb / "eval"))
            self._write_hparams(tb)
        else:
            train_writer = eval_writer = tf.summary.create_noop_writer()
        self.log(f"training {cfg.model.name} ({self.model.count_params():,} parameters) on "
                 f"{self.strategy.num_replicas_in_sync} replica(s), {batches_per_pass} batches per "
                 f"pass, {total_steps} steps -> {self.run_dir}")

        old_handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)
                        } if _main_thread() else {}
        step = int(self.optimizer.iterations.numpy())
        start, deadline = time.time(), (time.time() + 60 * t.max_minutes) if t.max_minutes else None
        window: dict[str, float] = {}
        window_start = time.time()
        progbar = keras.utils.Progbar(total_steps, verbose=1 if sys.stdout.isatty() else 0,
                                      stateful_metrics=["loss", cfg_metric(self.task)]) \
            if (self.chief and cfg.runtime.progress) else None
        try:
            for batch in self._batches(step, batches_per_pass):
                if step >= total_steps:
                    break
                sums = self.train_step(batch)
                step += 1
                for k, v in sums.items():
                    window[k] = window.get(k, 0.0) + float(v)
                if progbar is not None:
                    progbar.update(step, [(n, window[a] / max(window[b], 1e-9))
                                          for n, (a, b) in self.task.metrics.items() if b in window])
                if step % t.log_every_steps == 0 or step == total_steps:
                    self._log_train(train_writer, step, window, time.time() - window_start)
                    window, window_start = {}, time.time()
                if step % t.checkpoint_every_steps == 0:
                    self.manager.save(checkpoint_number=step)
                if step % t.eval_every_steps == 0 and step < total_steps:
                    self._log_eval(eval_writer, step)
                if self._stop_requested or (deadline and time.time() > deadline):
                    break
        finally:
            for s, h in old_handlers.items():
                signal.signal(s, h)
        self.manager.save(checkpoint_number=step)
        if self._stop_requested:
            self.log(f"stopped by signal at step {step}; checkpoint saved, rerun to resume")
            return {"step": step, "interrupted": True}
        averaged = self._average_checkpoints()
        metrics = self._log_eval(eval_writer, step)
        if averaged:
            metrics["averaged_checkpoints"] = averaged
        metrics.update(self.task.final_metrics(self.model))
        metrics.update(step=step, train_seconds=round(time.time() - start, 1),
                       parameters=int(self.model.count_params()))
        if self.chief:
            atomic_save_keras(self.model, self.run_dir / "model.keras")
            atomic_write_json(self.run_dir / "metrics.json", metrics)
            train_writer.flush()
            eval_writer.flush()
        self.log("final: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                       for k, v in sorted(metrics.items())
                                       if not isinstance(v, (dict, list))))
        return metrics

    def _average_checkpoints(self) -> list[int]:
        """Replace the model's weights by the mean over the last `average_checkpoints` saved
        checkpoints (T2T's checkpoint averaging; Vaswani et al. 2017 §6.1 average the last 5).

        The checkpoints themselves keep the raw weights, so a resumed run continues unchanged;
        only the final evaluation, `model.keras` and exports see the average.
        """
        n = int(self.config.trainer.average_checkpoints)
        paths = list(self.manager.checkpoints)[-n:]
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

    def _log_train(self, writer, step, window, seconds):
        import tensorflow as tf

        with writer.as_default(step=step):
            for name, (num, den) in self.task.metrics.items():
                if window.get(den):
                    tf.summary.scalar(name, window[num] / window[den])
            lr = self.optimizer.learning_rate
            tf.summary.scalar("learning_rate", float(lr(self.optimizer.iterations) if callable(lr) else lr))
            if seconds > 0 and "count" in window:
                tf.summary.scalar("positions_per_second", window["count"] / seconds)

    def _log_eval(self, writer, step) -> dict:
        import tensorflow as tf

        metrics = self.evaluate()
        with writer.as_default(step=step):
            for k, v in metrics.items():
                tf.summary.scalar(k, v)
            if self.chief:
                self.task.write_samples(self.model, step)
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


def cfg_metric(task) -> str:
    return task.objective


def _main_thread() -> bool:
    import threading
    return threading.current_thread() is threading.main_thread()


def train(config: ExperimentConfig, **kwargs) -> dict:
    return Trainer(config, **kwargs).fit()

"""Data streams per update and hooks after an update (tests/two_streams.py's task): each stream
counted once with its own position, an update on no data, negatives the model samples inside
the step, a moving average and weight clipping, exact under two replicas."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.two_streams import CLIP, DECAY, REAL_BATCHES, TwoStreamAddingTask
from zoo.config import load_recipe
from zoo.training.task import Phase, Update
from zoo.training.trainer import Trainer


def _config(run_dir, **trainer):
    return load_recipe({
        "name": "streams", "model": {"name": "stacked_lstm_adding", "units": 4, "num_layers": 2},
        "task": {"name": "adding", "length": 10, "train_examples": 96, "test_examples": 16,
                 "train_metric_examples": 16},
        "data": {"batch_size": 8},
        "trainer": {"optimizer": "adam", "learning_rate": 0.01, "weight_decay": 0.0, "max_steps": 4,
                    "checkpoint_every_steps": 2, "eval_every_steps": 1000, "log_every_steps": 2, **trainer},
        "runtime": {"run_dir": str(run_dir), "progress": False, "deterministic": True}})


def _trainer(config, strategy=None):
    from zoo.training.strategy import make_strategy

    keras.utils.set_random_seed(config.trainer.seed)   # as `fit` does: the same initial weights
    strategy = strategy or make_strategy(config.runtime.strategy)
    trainer = Trainer(config, strategy=strategy, task=TwoStreamAddingTask(config), log=lambda *a, **k: None)
    trainer.load_data()
    return trainer.build()


def test_batches_per_step_counts_every_stream_once_lead_first():
    noop = lambda *a, **k: {}   # noqa: E731
    phase = Phase("p", (Update("a", noop, list, stream="s", repeat=2), Update("b", noop, list),
                        Update("c", noop, list, stream=None), Update("d", noop, list, stream="s")))
    assert list(phase.batches_per_step().items()) == [("s", 3), ("train", 1)]
    assert Phase("q", (Update("r", noop, list, stream=None),)).batches_per_step() == {"train": 1}


def test_each_stream_has_its_own_length_and_position(tmp_path):
    trainer = _trainer(_config(tmp_path / "r"))
    assert trainer.stream_batches == {"train": 12, "real": REAL_BATCHES}
    main = trainer.phase_states[-1]
    assert main.steps_per_epoch == 12   # an epoch: one pass over the lead (default) stream
    # Batch i of a stream is batch i % n of its pass i // n, whatever the other streams do.
    task = trainer.task
    for index in (0, 5, 6, 13):
        pass_index, offset = divmod(index, REAL_BATCHES)
        want = list(task.train_dataset(trainer.model, pass_index, stream="real").skip(offset).take(1))[0]
        got = next(trainer._batches("real", index))
        for a, b in zip(tf.nest.flatten(want), tf.nest.flatten(got)):   # two replicas' halves
            parts = trainer.strategy.experimental_local_results(b)
            np.testing.assert_array_equal(a.numpy(), np.concatenate([p.numpy() for p in parts]))


def test_hooks_run_after_the_update_inside_the_step(tmp_path):
    """One step of each update by hand: the moving average moves by (1 - decay) towards the
    updated weights, the critic's weights end inside the clip, and the rollout reads no data."""
    trainer = _trainer(_config(tmp_path / "r", max_steps=1))
    state, task = trainer.phase_states[-1], trainer.task
    before = [v.numpy().copy() for v in task.average.average]
    np.testing.assert_array_equal(before[0], trainer.model.trainable_variables[0].numpy())
    step = tf.constant(0, tf.int64)
    state.steps[0](next(trainer._batches("train", 0)), step)
    for avg, old, v in zip(task.average.average, before, trainer.model.trainable_variables):
        np.testing.assert_allclose(avg.numpy(), DECAY * old + (1 - DECAY) * v.numpy(), rtol=1e-6, atol=1e-7)
    assert any(not np.array_equal(a.numpy(), o) for a, o in zip(task.average.average, before))
    output = state.phase.updates[1].variables()
    assert max(float(np.abs(v.numpy()).max()) for v in output) > CLIP   # after the model update: above it
    sums = state.steps[1](next(trainer._batches("real", 0)), step)
    assert float(sums["count"]) == 8.0
    assert max(float(np.abs(v.numpy()).max()) for v in output) == pytest.approx(CLIP)
    assert type(state.optimizers[1]).__name__ == "RMSprop" and state.optimizers[1].rho == 0.8
    sums = state.steps[2](None, step)
    assert float(sums["count"]) == 4.0 * trainer.strategy.num_replicas_in_sync and np.isfinite(float(sums["loss_sum"]))


def test_two_replicas_train_the_streams_and_hooks_as_one_device(tmp_path):
    """Sums all-reduced, hooks in cross-replica context: two replicas end where one device does
    (the stateless noise is drawn per replica, so only the no-noise updates are compared)."""
    from zoo.training.strategy import make_strategy

    results = []
    for name in ("one_device", "mirrored"):
        trainer = _trainer(_config(tmp_path / name, max_steps=3), make_strategy(name))
        assert trainer.strategy.num_replicas_in_sync == (1 if name == "one_device" else 2)
        state = trainer.phase_states[-1]
        batches = trainer._batches("train", 0)
        for step in range(3):   # the model update and its moving average only
            state.steps[0](next(batches), tf.constant(step, tf.int64))
        results.append([v.numpy() for v in trainer.task.average.average])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)

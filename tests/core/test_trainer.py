"""The one trainer: real MirroredStrategy replicas, TensorBoard events, resumable checkpoints."""
import json

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.helpers import phrase_corpus, scalars, tiny_recipe
from zoo.models.byte_rcae.data import encode_batch
from zoo.training.strategy import make_strategy
from zoo.training.trainer import Trainer


def test_two_replica_training_learns_and_logs(tmp_path):
    corpus = phrase_corpus(tmp_path, repeat=4)
    config = tiny_recipe(tmp_path / "run", data={"corpus": str(corpus), "test_fraction": 0.0, "batch_size": 8},
                         task={"max_length": 32}, model={"max_length": 32, "features": 64},
                         trainer={"max_steps": 150, "log_every_steps": 30, "eval_every_steps": 75})
    trainer = Trainer(config, log=lambda *a: None)
    assert trainer.strategy.num_replicas_in_sync == 2  # two logical CPUs (conftest)
    metrics = trainer.fit()
    run = tmp_path / "run"
    for name in ("recipe.yaml", "model.keras", "metrics.json"):
        assert (run / name).is_file()
    assert json.loads((run / "metrics.json").read_text())["step"] == 150
    # It learns: the loss falls and the byte error ends far under the unigram baseline.
    loss = scalars(run / "tb" / "train", "loss")
    assert [s for s, _ in loss] == [30, 60, 90, 120, 150]
    assert loss[-1][1] < 0.6 * loss[0][1]
    assert metrics["byte_error"] < 0.7 * metrics["unigram_baseline_error"]
    lr = scalars(run / "tb" / "train", "learning_rate")
    assert lr and abs(lr[0][1] - 0.003) < 1e-9
    assert scalars(run / "tb" / "train", "byte_error")
    eval_tags = EventAccumulator(str(run / "tb" / "eval")).Reload().Tags()["tensors"]
    assert "byte_error" in eval_tags and "reconstructions" in eval_tags
    assert any(t.startswith("byte_error_depth_") for t in eval_tags)
    assert [s for s, _ in scalars(run / "tb" / "eval", "byte_error")] == [75, 150]
    hp_tags = EventAccumulator(str(run / "tb")).Reload().Tags()["tensors"]
    assert "_hparams_/session_start_info" in hp_tags and "_hparams_/experiment" in hp_tags


def _one_step(strategy, config, batch, weights=None):
    trainer = Trainer(config, strategy=strategy, log=lambda *a: None).build(batches_per_pass=100)
    if weights is not None:
        trainer.model.set_weights(weights)
    ds = tf.data.Dataset.from_tensors(batch)
    for b in strategy.experimental_distribute_dataset(ds):
        trainer.train_step(b)
    return trainer.model


def test_two_replicas_take_the_same_step_as_one_device(tmp_path):
    """Loss normalised by the global count: the all-reduced step equals the single-device step."""
    config = tiny_recipe(tmp_path / "r", trainer={"optimizer": "sgd", "momentum": 0.9,
                                                  "learning_rate": 0.1, "weight_decay": 1e-5})
    # Rows of different lengths: replicas see different numbers of valid bytes.
    batch = encode_batch([b"a short one", b"x" * 30, b"hello world, hello bytes", b"q"], length=32)
    one = make_strategy("one_device")
    two = make_strategy("mirrored")
    assert two.num_replicas_in_sync == 2
    with one.scope():
        init = _initial_weights(config)
    m1 = _one_step(one, config, batch, init)
    m2 = _one_step(two, config, batch, init)
    moved = False
    for a, b, w0 in zip(m1.get_weights(), m2.get_weights(), init):
        np.testing.assert_allclose(a, b, atol=2e-6)
        moved |= not np.allclose(a, w0)
    assert moved


def _initial_weights(config):
    from zoo.registry import create_model

    return create_model(config.model.name, build=True, **config.model.kwargs()).get_weights()


def test_shared_recursion_gradients_are_divided_by_their_uses(tmp_path):
    """§3.2 of "Byte-level Recursive Convolutional Auto-Encoder for Text": a recursion group applied
    d times gets its gradient divided by d."""
    batch = encode_batch([b"recursion happens four times here" * 1], length=64)  # depth 4
    sgd = {"optimizer": "sgd", "momentum": 0.0, "learning_rate": 0.01, "weight_decay": 0.0}
    plain = tiny_recipe(tmp_path / "a", trainer=sgd, task={"divide_shared_gradients": False})
    divided = tiny_recipe(tmp_path / "b", trainer=sgd, task={"divide_shared_gradients": True})
    strategy = make_strategy("one_device")
    with strategy.scope():
        init = _initial_weights(plain)
    ma = _one_step(strategy, plain, batch, init)
    mb = _one_step(strategy, divided, batch, init)
    for va, vb, w0 in zip(ma.weights, mb.weights, init):
        da, db = va.numpy() - w0, vb.numpy() - w0
        if "recursion" in va.path:
            np.testing.assert_allclose(db, da / 4, atol=1e-7)
        else:
            np.testing.assert_allclose(db, da, atol=1e-7)


def test_final_weights_average_the_last_checkpoints(tmp_path):
    import keras

    from zoo.config import RecipeError
    from zoo.runs import model_checkpoint

    config = tiny_recipe(tmp_path / "run", trainer={"max_steps": 30, "checkpoint_every_steps": 10,
                                                    "eval_every_steps": 100, "keep_checkpoints": 3,
                                                    "average_checkpoints": 2, "text_samples": 0},
                         task={"max_length": 16}, model={"max_length": 16}, data={"max_paragraphs": 512})
    metrics = Trainer(config, log=lambda *a: None).fit()
    assert metrics["averaged_checkpoints"] == [20, 30]
    final = keras.models.load_model(tmp_path / "run" / "model.keras")
    ckpt_weights = []
    for step in (20, 30):
        model = keras.models.clone_model(final)
        model_checkpoint(model).restore(str(tmp_path / "run" / "checkpoints" / f"ckpt-{step}")).expect_partial()
        ckpt_weights.append([w.numpy() for w in model.weights])
    moved = 0
    for w, a, b in zip(final.weights, *ckpt_weights):
        np.testing.assert_allclose(w.numpy(), (a + b) / 2, rtol=1e-5, atol=1e-7)
        moved += int(not np.array_equal(a, b))
    assert moved > 0  # the two checkpoints differ, so the average is neither of them
    # The last checkpoint keeps the raw weights (a resumed run continues from them).
    assert any(not np.allclose(w.numpy(), b) for w, b in zip(final.weights, ckpt_weights[1]))

    bad = tiny_recipe(tmp_path / "bad", trainer={"keep_checkpoints": 2, "average_checkpoints": 3})
    with pytest.raises(RecipeError, match="average_checkpoints .3. exceeds"):
        Trainer(bad, log=lambda *a: None).fit()


def test_running_a_finished_run_again_keeps_what_it_recorded(tmp_path):
    """Issue 28 item 3: `zoo train` of a finished run trains nothing and must not replace the
    recorded training time (it wrote 5.7 s over 991.3 s) nor drop keys others added."""
    corpus = phrase_corpus(tmp_path)  # seconds per fit: three fits below
    config = tiny_recipe(tmp_path / "run", trainer={"max_steps": 6, "eval_every_steps": 100, "text_samples": 0},
                         task={"max_length": 16}, model={"max_length": 16, "features": 16},
                         data={"corpus": str(corpus), "batch_size": 8}, runtime={"strategy": "one_device"})
    first = Trainer(config, log=lambda *a: None).fit()
    path = tmp_path / "run" / "metrics.json"
    recorded = json.loads(path.read_text())
    recorded.update(train_seconds=991.3, note="added by hand")
    path.write_text(json.dumps(recorded))
    lines = []
    again = Trainer(config, log=lines.append).fit()
    kept = json.loads(path.read_text())
    assert again == kept
    assert kept["train_seconds"] == 991.3 and kept["note"] == "added by hand"
    assert kept["byte_error"] == first["byte_error"] and kept["step"] == 6
    assert any("already finished at step 6" in line for line in lines)
    # A longer recipe over the same run trains on: its own time is recorded, not the old one.
    longer = Trainer(config.with_overrides(["trainer.max_steps=8"]), log=lambda *a: None).fit()
    assert longer["step"] == 8 and longer["train_seconds"] != 991.3


def test_the_same_recipe_resumes_a_run_whose_data_decided_model_arguments(tmp_path):
    """The run's saved recipe holds what the data decided (here the LM's vocab_size); the recipe
    without it, run again with a longer budget (or after a kill), resumes the run rather than
    being refused as "a different model"."""
    from zoo.config import load_recipe

    config = load_recipe("lm/smoke", [f"runtime.run_dir={json.dumps(str(tmp_path / 'run'))}",
                                      "runtime.strategy=one_device", "trainer.text_samples=0"])
    assert "vocab_size" not in config.model.args
    Trainer(config, log=lambda *a: None).fit()
    lines = []
    longer = Trainer(config.with_overrides(["trainer.max_steps=3"]), log=lines.append).fit()
    assert longer["step"] == 3 and any("resumed from" in line for line in lines)


@pytest.mark.parametrize("warmup", [0, 10])
def test_cosine_schedule_reaches_zero_at_the_last_step(warmup):
    """lr(i) = lr0 * (1 + cos(pi * (i - w) / (T - w))) / 2 after w linear warm-up steps."""
    import math

    from zoo.config import TrainerConfig
    from zoo.training.optimizers import make_optimizer

    T, lr0 = 200, 0.003
    t = TrainerConfig(optimizer="adam", learning_rate=lr0, lr_schedule="cosine", lr_warmup_steps=warmup)
    lr = make_optimizer(t, steps_per_epoch=7, total_steps=T)._learning_rate
    for i in (warmup, 60, 150, T - 1, T, T + 50):
        expected = lr0 * (1 + math.cos(math.pi * min(i - warmup, T - warmup) / (T - warmup))) / 2
        assert float(lr(i)) == pytest.approx(expected, rel=1e-5, abs=1e-9), i
    if warmup:
        assert float(lr(0)) == 0.0 and float(lr(warmup // 2)) == pytest.approx(lr0 / 2, rel=1e-5)
    # The step schedule is unchanged: halved every lr_decay_every_epochs (10 x 7 steps).
    step = make_optimizer(TrainerConfig(learning_rate=lr0), steps_per_epoch=7, total_steps=T)._learning_rate
    assert [float(step(i)) for i in (69, 70, 140)] == pytest.approx([lr0, lr0 / 2, lr0 / 4])

"""Slow tier of the text GANs (Semeniuta's dissertation §5.4): a run SIGKILLed in its MLE
pretraining phase and one killed in its adversarial phase resume to the weights (and rollout
network and optimizer states) of an uninterrupted run, bit for bit; a Conv-LSTM WGAN-GP run logs
the critic's scalars and its export refuses a prompt in one line; the generators the smoke run
does not train (the LeakGANs' leaks, Conv-Deconv) export and serve."""
import json
import subprocess
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.config import load_recipe, save_recipe
from tests.helpers import DEADLINE_S, ENV, ROOT, kill_after_checkpoint, recorded_step, train_to_end, zoo_cmd
from zoo.export import ExportError, export_model, open_export

SMOKE = "textgan/smoke"
pytestmark = pytest.mark.slow


def _recipe(tmp_path, *overrides):
    path = tmp_path / "gan.yaml"
    save_recipe(load_recipe(SMOKE, list(overrides)), path)
    return path


def _checkpoint_values(folder: Path) -> dict:
    reader = tf.train.load_checkpoint(str(folder))
    return {n: reader.get_tensor(n) for n, _ in tf.train.list_variables(str(folder)) if "ATTRIBUTES" in n}


# -- 8: kill and resume --------------------------------------------------------------------------
def test_killed_in_pretraining_or_in_the_adversarial_phase_resumes_bit_for_bit(tmp_path):
    """SeqGAN-rollout, the method with the most state: the generator's MLE optimizer, then the
    discriminator's and the generator's optimizers and the rollout network. Every random number
    inside a step is stateless (recipe seed, step, batch), so a resumed run draws what the
    uninterrupted one drew: the same final weights, rollout network and optimizer slots."""
    env = {**ENV, "ZOO_CACHE": str(tmp_path / "cache")}
    # Many cheap pretraining steps, each second one checkpointed: the kill lands inside the phase.
    recipe = _recipe(tmp_path, "task.pretrain_steps=60", "trainer.max_steps=20", "trainer.checkpoint_every_steps=2",
                     "trainer.log_every_steps=10", "runtime.deterministic=true", "runtime.strategy=one_device")
    ref, in_pretrain, in_adversarial = tmp_path / "ref", tmp_path / "killed_pretrain", tmp_path / "killed_adversarial"
    reference = subprocess.Popen(zoo_cmd("train", recipe, "--run-dir", ref), env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, cwd=ROOT)
    at_kill = kill_after_checkpoint(recipe, in_pretrain, 4, folder="stages/pretrain", env=env)
    assert 4 <= at_kill < 60 and recorded_step(in_pretrain / "checkpoints") is None
    assert reference.wait(timeout=DEADLINE_S) == 0
    # Rerun as started: the recipe (without the vocabulary size the data decides) and the folder.
    out = train_to_end(recipe, "--run-dir", in_pretrain, env=env)
    assert f"(phase pretrain) at step {at_kill}" in out, out[-2000:]

    at_kill = kill_after_checkpoint(recipe, in_adversarial, 4, env=env)
    assert 4 <= at_kill < 20
    # Rerun by naming the run folder alone (its recipe.yaml).
    out = train_to_end(in_adversarial, env=env)
    assert f"checkpoints/ckpt-{at_kill} at step {at_kill}" in out, out[-2000:]

    want = keras.models.load_model(ref / "model.keras").get_weights()
    final = _checkpoint_values(ref / "checkpoints")
    assert any(n.startswith("rollout_generator/") for n in final), sorted(final)
    for run in (in_pretrain, in_adversarial):
        for a, b in zip(want, keras.models.load_model(run / "model.keras").get_weights()):
            np.testing.assert_array_equal(a, b, err_msg=str(run))
        got = _checkpoint_values(run / "checkpoints")
        assert got.keys() == final.keys()
        for n, v in final.items():
            np.testing.assert_array_equal(got[n], v, err_msg=f"{run.name}: {n}")
        assert json.loads((run / "metrics.json").read_text())["step"] == 20
    # The rollout network lags the generator (it moved at rate 0.8 from the pretrained one).
    rollout = [v for n, v in sorted(final.items()) if n.startswith("rollout_generator/")]
    weights = {w.shape: w for w in want}
    assert any(not np.array_equal(r, weights[r.shape]) for r in rollout if r.shape in weights)


# -- a WGAN-GP run: the critic's scalars, a prompt refused -----------------------------------------
@pytest.fixture(scope="module")
def wgan_run(tmp_path_factory):
    from zoo.cli import main

    root = tmp_path_factory.mktemp("wgan")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZOO_CACHE", str(root / "cache"))
        code = main(["train", SMOKE, "--run-dir", str(root / "run"), "--export", str(root / "export"),
                     "--set", "model.name=wgan_conv_lstm", "--set", "model.noise_dim=4",
                     "--set", "model.critic_channels=[4]", "--set", "model.kernel_size=3"])
    assert code == 0
    return root / "run", root / "export"


def test_a_wgan_run_logs_the_critic_s_wasserstein_estimate_and_gradient_penalty(wgan_run):
    from tests.helpers import scalars

    run, _ = wgan_run
    tb = run / "tb"
    for tag in ("loss/critic", "wasserstein/critic", "gradient_penalty/critic", "loss/generator"):
        values = scalars(tb / "train", tag)
        assert [s for s, _ in values] == [1, 2] and all(np.isfinite(v) for _, v in values), tag
    assert all(v >= 0 for _, v in scalars(tb / "train", "gradient_penalty/critic"))
    assert [s for s, _ in scalars(tb / "pretrain", "nll")] == [1, 2]   # the Conv-LSTM pretrains
    for tag in ("wasserstein", "gradient_penalty", "nll", "bleu4", "unique_4grams"):
        assert [s for s, _ in scalars(tb / "eval", tag)] == [2], tag
    metrics = json.loads((run / "metrics.json").read_text())
    assert "reward" not in metrics and "d_real_accuracy" not in metrics


def test_a_wgan_export_draws_whole_sentences_and_refuses_a_prompt_in_one_line(wgan_run, capsys):
    from zoo.cli import main

    _, export = wgan_run
    client = open_export(export)
    assert client.method == "wgan_conv_lstm"
    texts = client.sample(5, seed=3)
    assert len(texts) == 5 and client.sample(5, seed=3) == texts and client.sample(5, seed=4) != texts
    # Continuous generators take the argmax of G(z): the temperature changes nothing.
    assert client.sample(5, seed=3, temperature=3.0) == texts
    assert client.generate("", 15, seed=3)["text"] == client.generate("", 15, seed=3)["text"]
    with pytest.raises(ExportError, match="cannot continue a prompt") as e:
        client.generate("The", 5)
    assert "\n" not in str(e.value)
    code = main(["generate", str(export), "--prompt", "The"])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "wgan_conv_lstm draws whole sentences from noise and cannot continue a prompt" in err


# -- every generator kind exports ------------------------------------------------------------------
@pytest.mark.parametrize("name", ["leakgan_leak", "leakgan_mixed", "wgan_conv_deconv"])
def test_the_generators_the_smoke_run_does_not_train_export_and_serve(name, tmp_path, monkeypatch):
    """The smoke run exports SeqGAN-rollout's LSTM generator and the WGAN run the Conv-LSTM; the
    LeakGANs' generators read the discriminator's state (leak: only it) and Conv-Deconv has no
    recurrence at all. Each exports (untrained) and serves as the Keras model samples."""
    from zoo.models.textgan.model import pad_after_eos
    from zoo.training.trainer import Trainer

    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    overrides = [f"runtime.run_dir={tmp_path / 'run'}", f"model.name={name}"]
    if name == "wgan_conv_deconv":
        overrides += ["task.pretrain_steps=0", "model.deconv_channels=[4, 4]", "model.critic_channels=[4]"]
    trainer = Trainer(load_recipe(SMOKE, overrides), log=lambda *a, **k: None)
    trainer.load_data()
    keras.utils.set_random_seed(0)
    trainer.build()
    model, task = trainer.model, trainer.task
    task.save_artifacts(tmp_path / "artifacts")
    client = open_export(export_model(model, trainer.config, tmp_path / "export", task=task,
                                      artifacts=tmp_path / "artifacts"))
    assert client.method == name
    texts = client.sample(4, seed=5)
    assert len(texts) == 4 and texts == client.sample(4, seed=5)
    # The export's sample is the Keras model's (seed [seed, 7], as export.py derives it).
    ids, _ = model.sample(4, tf.constant([5, 7], tf.int64))
    assert texts == task.decode_rows(pad_after_eos(ids).numpy())
    if name != "wgan_conv_deconv":
        out = client.generate("The", 15, seed=1)
        # A sentence is at most 15 pieces, the prompt's among them.
        assert out["prompt_tokens"] >= 1 and out["tokens"] <= 15 - out["prompt_tokens"]
    else:
        with pytest.raises(ExportError, match="cannot continue a prompt"):
            client.generate("The", 5)

"""A killed training process resumes exactly (in the main phase, and in a phase of two updates
with two optimizers); two worker processes train under MultiWorkerMirroredStrategy."""
import json
import socket
import subprocess
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.config import save_recipe
from tests.helpers import (DEADLINE_S, ENV, ROOT, kill_after_checkpoint, recorded_step, tiny_recipe,
                           train_to_end, zoo_cmd)


def write_recipe(tmp_path, **sections):
    config = tiny_recipe(tmp_path / "unused", **sections)
    path = tmp_path / "tiny.yaml"
    save_recipe(config, path)
    return path


# Slow tier, as every kill test here: the default tier resumes a run stopped by a real SIGTERM
# (test_faults.py) and checks each stream's position (test_streams_and_hooks.py).
@pytest.mark.slow
def test_killed_training_resumes_with_its_optimizer_state(tmp_path):
    # Short paragraphs (few buckets, few traces) and many per pass (each pass is a new pipeline).
    recipe = write_recipe(tmp_path, trainer={"max_steps": 40, "checkpoint_every_steps": 5,
                                             "eval_every_steps": 1000, "log_every_steps": 20},
                          data={"max_paragraphs": 512}, task={"max_length": 16},
                          model={"max_length": 16}, runtime={"deterministic": True, "strategy": "one_device"})
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    # The uninterrupted reference trains alongside the run that is killed.
    reference = subprocess.Popen(zoo_cmd("train", recipe, "--run-dir", ref), env=ENV,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    at_kill = kill_after_checkpoint(recipe, killed, 10)
    assert 10 <= at_kill < 40
    assert reference.wait(timeout=DEADLINE_S) == 0

    assert f"at step {at_kill}" in train_to_end(recipe, "--run-dir", killed)
    assert json.loads((killed / "metrics.json").read_text())["step"] == 40
    # Same data order, same optimizer state: the resumed run ends where the uninterrupted one did.
    a = keras.models.load_model(ref / "model.keras")
    b = keras.models.load_model(killed / "model.keras")
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, atol=1e-5)


@pytest.mark.slow
def test_killed_in_a_phase_of_two_optimizers_resumes_exactly(tmp_path):
    """One phase, two updates (SGD on layer 1, Adam twice per step on the rest): after SIGKILL,
    the rerun restores both optimizers and the data position and ends where an uninterrupted
    run does."""
    from tests.helpers import scalars

    recipe = tmp_path / "two.yaml"
    raw = {"name": "two", "model": {"name": "stacked_lstm_adding", "units": 8, "num_layers": 2},
           "task": {"name": "adding_two_updates", "length": 10, "train_examples": 1024, "test_examples": 32,
                    "train_metric_examples": 32},
           "data": {"batch_size": 8},
           "trainer": {"optimizer": "adam", "learning_rate": 0.01, "weight_decay": 0.0, "max_steps": 60,
                       "checkpoint_every_steps": 3, "eval_every_steps": 1000, "log_every_steps": 30},
           "runtime": {"deterministic": True, "strategy": "one_device", "progress": False}}
    import yaml
    recipe.write_text(yaml.safe_dump(raw))
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    reference = subprocess.Popen(zoo_cmd("train", recipe, "--run-dir", ref, module="tests.two_updates"), env=ENV,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    at_kill = kill_after_checkpoint(recipe, killed, 6, module="tests.two_updates")
    assert 6 <= at_kill < 60
    assert reference.wait(timeout=DEADLINE_S) == 0
    assert f"at step {at_kill}" in train_to_end(recipe, "--run-dir", killed, module="tests.two_updates")
    a = keras.models.load_model(ref / "model.keras")
    b = keras.models.load_model(killed / "model.keras")
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, atol=1e-5)
    # Both optimizers are in the checkpoint and advanced: SGD once, Adam twice per step.
    names = dict(tf.train.list_variables(str(killed / "checkpoints")))
    iters = {k: int(tf.train.load_checkpoint(str(killed / "checkpoints")).get_tensor(k))
             for k in names if k.endswith("iterations/.ATTRIBUTES/VARIABLE_VALUE")}
    assert sorted(iters.values()) == [60, 120], iters
    # Each update logs its own loss and learning rate.
    for tag in ("loss/layer1", "loss/rest", "learning_rate/layer1", "learning_rate/rest"):
        assert [s for s, _ in scalars(killed / "tb" / "train", tag)][-1] == 60, tag


@pytest.mark.slow
def test_killed_in_a_phase_over_two_streams_with_hooks_resumes_bit_for_bit(tmp_path):
    """tests/two_streams.py: one phase, three updates over two data streams of different lengths
    (32 and 6 batches per pass) and none, a moving average and weight clipping after updates,
    negatives sampled from the model. SIGKILLed and rerun, it ends bit for bit where the
    uninterrupted run does: weights, moving average, every optimizer's state."""
    import yaml

    recipe = tmp_path / "streams.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "streams", "model": {"name": "stacked_lstm_adding", "units": 4, "num_layers": 2},
        "task": {"name": "adding_two_streams", "length": 10, "train_examples": 256, "test_examples": 16,
                 "train_metric_examples": 16},
        "data": {"batch_size": 8},
        "trainer": {"optimizer": "adam", "learning_rate": 0.01, "weight_decay": 0.0, "max_steps": 40,
                    "checkpoint_every_steps": 3, "eval_every_steps": 1000, "log_every_steps": 20},
        "runtime": {"deterministic": True, "strategy": "one_device", "progress": False}}))
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    module = "tests.two_streams"
    reference = subprocess.Popen(zoo_cmd("train", recipe, "--run-dir", ref, module=module), env=ENV,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    at_kill = kill_after_checkpoint(recipe, killed, 9, module=module)
    assert 9 <= at_kill < 40
    assert reference.wait(timeout=DEADLINE_S) == 0
    assert f"at step {at_kill}" in train_to_end(recipe, "--run-dir", killed, module=module)
    a = keras.models.load_model(ref / "model.keras")
    b = keras.models.load_model(killed / "model.keras")
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    # Every variable of the final checkpoints: the model, the moving average, three optimizers.
    want, got = (tf.train.load_checkpoint(str(r / "checkpoints")) for r in (ref, killed))
    names = [n for n, _ in tf.train.list_variables(str(ref / "checkpoints")) if "ATTRIBUTES" in n]
    assert any(n.startswith("average/") for n in names), names
    for n in names:
        np.testing.assert_array_equal(want.get_tensor(n), got.get_tensor(n), err_msg=n)
    iters = sorted(int(got.get_tensor(n)) for n in names if n.endswith("iterations/.ATTRIBUTES/VARIABLE_VALUE"))
    assert iters == [40, 40, 80], iters   # model and rollout once per step, the critic twice
    # The moving average ran: it lags the weights (clipping: test_streams_and_hooks).
    averages = [want.get_tensor(n) for n in names if n.startswith("average/")]
    weights = {w.shape: w for w in b.get_weights()}
    assert any(not np.array_equal(avg, weights[avg.shape]) for avg in averages if avg.shape in weights)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Slow tier: the default tier trains two real replicas under MirroredStrategy (test_trainer.py)
# and starts a worker whose peer never comes (test_cli_inputs.py).
@pytest.mark.slow
def test_two_workers_train_with_multi_worker_mirrored_strategy(tmp_path):
    recipe = write_recipe(tmp_path, trainer={"max_steps": 12, "checkpoint_every_steps": 6,
                                             "eval_every_steps": 1000, "log_every_steps": 6})
    run = tmp_path / "mw"
    workers = [f"127.0.0.1:{_free_port()}" for _ in range(2)]
    procs = []
    for i in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}}
        procs.append(subprocess.Popen(zoo_cmd("train", recipe, "--run-dir", run),
                                      env={**ENV, "TF_CONFIG": json.dumps(tf_config)},
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    chief_lines = [l for l in outs[0].splitlines() if l.startswith("training ")]
    assert chief_lines and "on 2 replica(s)" in chief_lines[0], chief_lines
    assert json.loads((run / "metrics.json").read_text())["step"] == 12
    # Both workers hold the same synchronised weights at the end.
    import tensorflow as tf
    chief = tf.train.load_checkpoint(str(run / "checkpoints"))
    other = tf.train.load_checkpoint(str(run / "workers" / "worker1"))
    names = [n for n, _ in tf.train.list_variables(str(run / "checkpoints")) if "kernel" in n]
    assert names
    for n in names:
        np.testing.assert_allclose(chief.get_tensor(n), other.get_tensor(n), atol=1e-6)


@pytest.mark.slow
def test_losing_a_peer_worker_is_one_line_and_keeps_the_checkpoints(tmp_path):
    """Issue 28 item 8: losing a peer ended the other worker with a bare UnavailableError."""
    recipe = write_recipe(tmp_path, trainer={"max_steps": 100_000, "checkpoint_every_steps": 2,
                                             "eval_every_steps": 100_000, "log_every_steps": 100_000})
    run = tmp_path / "mw"
    workers = [f"127.0.0.1:{_free_port()}" for _ in range(2)]
    envs = [{**ENV, "TF_CONFIG": json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})}
            for i in range(2)]
    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    procs = []
    for env, log in zip(envs, logs):
        with open(log, "wb") as out:
            procs.append(subprocess.Popen(zoo_cmd("train", recipe, "--run-dir", run), env=env,
                                          stdout=out, stderr=subprocess.STDOUT))
    try:
        deadline = time.time() + DEADLINE_S
        while (recorded_step(run / "checkpoints") or 0) < 2:
            assert procs[0].poll() is None and time.time() < deadline, logs[0].read_text()[-3000:]
            time.sleep(0.05)
        procs[1].kill()
        procs[0].wait(timeout=DEADLINE_S)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    err = logs[0].read_text()
    lines = [line for line in err.splitlines() if line.startswith("zoo: error")]
    assert procs[0].returncode == 2 and "Traceback" not in err, err[-3000:]
    assert len(lines) == 1 and lines[0].startswith("zoo: error: a peer worker of this multi-worker run was lost"), lines
    assert recorded_step(run / "checkpoints") >= 2

"""Training faults: damaged checkpoints, signals, a run folder used twice, nonsense recipes, a
diverging loss. Real files, a real signal to a real `zoo train`, one subprocess in all."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
import tensorflow as tf

from zoo.cli import main
from zoo.config import RecipeError, load_recipe, save_recipe
from zoo.registry import create_model
from zoo.runs import RunError, load_run, model_checkpoint, run_lock
from zoo.training.trainer import Trainer
from tests.helpers import tiny_recipe

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
SMALL = dict(model={"features": 16, "max_length": 16}, task={"max_length": 16},
             data={"batch_size": 8, "max_paragraphs": 128, "max_test_paragraphs": 16},
             runtime={"strategy": "one_device", "progress": False})


def small_recipe(path, run_dir, **trainer):
    sections = {k: dict(v) for k, v in SMALL.items()}
    sections["trainer"] = {"eval_every_steps": 100_000, "log_every_steps": 100_000, "text_samples": 0,
                           **trainer}
    save_recipe(tiny_recipe(run_dir, **sections), path)
    return path


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def steps(folder):
    return sorted(int(p.name[5:-6]) for p in folder.glob("ckpt-*.index"))


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    """A real `zoo train --export` stopped by SIGTERM, while a second `zoo train` on its folder
    is refused; returns (recipe, run, the subprocess's stderr, the second train's result)."""
    tmp = tmp_path_factory.mktemp("stopped")
    run, out = tmp / "run", tmp / "exported"
    recipe = small_recipe(tmp / "r.yaml", run, max_steps=100_000, checkpoint_every_steps=1,
                          keep_checkpoints=3)
    proc = subprocess.Popen([sys.executable, "-m", "zoo_env", "train", recipe, "--export", out],
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 600   # generous: waits on the files, done as soon as they exist
    while time.time() < deadline and not [s for s in steps(run / "checkpoints") if s >= 3]:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    # The folder is in use: a second train fails at once, touching nothing.
    second = subprocess.CompletedProcess([], main(["train", str(recipe)]))
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    return recipe, run, out, proc.returncode, stdout + stderr, second


def test_sigterm_exits_nonzero_after_its_checkpoint_and_skips_export(stopped_run, capfd):
    recipe, run, out, code, output, second = stopped_run
    assert code == 128 + signal.SIGTERM, output
    assert "stopped by SIGTERM" in output and "--export skipped" in output
    assert output.count("stopped by SIGTERM") == 1, output   # said once (it was twice)
    assert not out.exists() and not (run / "model.keras").exists()
    # The checkpoint of the step it stopped at is the latest one.
    stopped_at = int(output.split("stopped by SIGTERM at step ")[1].split(";")[0])
    assert int(tf.train.latest_checkpoint(str(run / "checkpoints")).rsplit("-", 1)[1]) == stopped_at
    # The second train on the folder in use was refused with one line.
    assert second.returncode == 2


def test_run_folder_lock_is_exclusive_and_not_stuck(stopped_run, capsys, tmp_path):
    recipe, run, *_ = stopped_run
    assert (run / "train.lock").is_file()  # left behind by the stopped process ...
    with run_lock(run):                     # ... and no obstacle: the kernel dropped its lock
        code, _, err = run_cli(capsys, "train", recipe)
        assert code == 2 and err.startswith("zoo: error: run directory") and "in use" in err
        assert err.count("\n") == 1 and f"process {os.getpid()}" in err
    with run_lock(run):
        pass


def _copy(run, tmp_path):
    dest = tmp_path / "run"
    shutil.copytree(run, dest)
    return dest


def _build(recipe, run):
    trainer = Trainer(load_recipe(recipe, [f"runtime.run_dir={run}"]), log=lambda *a: None)
    trainer.load_data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.build()
    return trainer, [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]


def test_resume_skips_a_truncated_or_deleted_latest_checkpoint(stopped_run, tmp_path):
    recipe, src, *_ = stopped_run
    run = _copy(src, tmp_path)
    ckpts = run / "checkpoints"
    newest, older = steps(ckpts)[-1], steps(ckpts)[-2]
    data = next(ckpts.glob(f"ckpt-{newest}.data-*"))
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    trainer, warned = _build(recipe, run)
    assert trainer.phase_states[-1].step == older
    assert len(warned) == 1 and f"ckpt-{newest}" in warned[0] and f"ckpt-{older}" in warned[0]
    # The folder's list now continues from the intact one (the next save, averaging, resumes).
    assert tf.train.latest_checkpoint(str(ckpts)).endswith(f"ckpt-{older}")

    # The files of the latest one are gone (the state file still names it): same fallback,
    # never a silent restart from step 0.
    for p in ckpts.glob(f"ckpt-{older}.*"):
        p.unlink()
    oldest = max(s for s in steps(ckpts) if s < older)
    trainer, warned = _build(recipe, run)
    assert trainer.phase_states[-1].step == oldest and any(f"ckpt-{older}" in w for w in warned)


def test_no_intact_checkpoint_is_an_error_for_train_and_export(stopped_run, tmp_path, capsys):
    recipe, src, *_ = stopped_run
    run = _copy(src, tmp_path)
    ckpts = run / "checkpoints"
    # load_run (`zoo export` / `zoo eval` of an unfinished run) falls back like training does.
    newest, older = steps(ckpts)[-1], steps(ckpts)[-2]
    next(ckpts.glob(f"ckpt-{newest}.data-*")).write_bytes(b"")
    with pytest.warns(RuntimeWarning, match=f"ckpt-{newest}"):
        _, model = load_run(run)
    cfg = load_recipe(recipe)
    reference = create_model(cfg.model.name, build=True, **cfg.model.kwargs())
    model_checkpoint(reference).restore(str(ckpts / f"ckpt-{older}")).expect_partial()
    for a, b in zip(reference.weights, model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    for p in ckpts.glob("ckpt-*.data-*"):
        p.write_bytes(b"\0" * 8)
    with pytest.raises(RunError, match="no intact checkpoint"):
        _build(recipe, run)
    code, _, err = run_cli(capsys, "train", recipe, "--run-dir", run)
    assert code == 2 and "no intact checkpoint" in err and err.count("\n") == 1
    code, _, err = run_cli(capsys, "export", run, "--out", tmp_path / "out")
    assert code == 2 and "no intact checkpoint" in err and not (tmp_path / "out").exists()


def test_a_diverging_loss_stops_without_saving_it(tmp_path, capsys):
    run = tmp_path / "run"
    recipe = small_recipe(tmp_path / "r.yaml", run, optimizer="sgd", learning_rate=1e30, momentum=0.0,
                          max_steps=40, checkpoint_every_steps=1)
    code, _, err = run_cli(capsys, "train", recipe, "--export", tmp_path / "out")
    assert code == 2 and err.startswith("zoo: error: training diverged at step ") and err.count("\n") == 1
    assert not (run / "model.keras").exists() and not (tmp_path / "out").exists()
    step = int(err.split("at step ")[1].split(":")[0])
    saved = steps(run / "checkpoints")
    assert saved and max(saved) < step
    for s in saved:  # every checkpoint on disk is finite
        reader = tf.train.load_checkpoint(str(run / "checkpoints" / f"ckpt-{s}"))
        for n, _ in tf.train.list_variables(str(run / "checkpoints" / f"ckpt-{s}")):
            value = reader.get_tensor(n)
            if n.startswith("model_weights/") and np.issubdtype(np.asarray(value).dtype, np.floating):
                assert np.isfinite(value).all(), (s, n)


def test_divergence_in_the_last_step_is_caught_before_anything_is_shipped(tmp_path, capsys):
    """Issue 28 item 7: one step at a learning rate of 1e30 leaves finite weights (~1e30) and a
    NaN evaluation; it must not end with exit 0, a NaN metrics.json and an export."""
    run = tmp_path / "run"
    recipe = small_recipe(tmp_path / "r.yaml", run, optimizer="sgd", learning_rate=1e30, momentum=0.0,
                          max_steps=1, checkpoint_every_steps=1)
    code, _, err = run_cli(capsys, "train", recipe, "--export", tmp_path / "out")
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("zoo: error: training diverged at step 1: the evaluated ") and " is nan" in err
    for made in (run / "model.keras", run / "metrics.json", tmp_path / "out"):
        assert not made.exists(), made


@pytest.mark.parametrize("override, message", [
    ("trainer.learning_rate=-0.1", "trainer.learning_rate must be a number > 0, got -0.1"),
    ("trainer.max_steps=0", "trainer.max_steps must be a positive integer or null, got 0"),
    ("trainer.max_steps=-5", "trainer.max_steps must be a positive integer or null, got -5"),
    ("data.batch_size=0", "data.batch_size must be a positive integer, got 0"),
    ("trainer.momentum=1.5", "trainer.momentum must be a number in [0, 1], got 1.5"),
    ("trainer.keep_checkpoints=0", "trainer.keep_checkpoints must be a positive integer, got 0"),
    ("data.test_fraction=-0.1", "data.test_fraction must be a number in [0, 1], got -0.1"),
    ("task.bytes_per_batch=0", "task.bytes_per_batch must be a positive integer or null, got 0"),
    ("model.features=abc", "model.features must be an integer, got 'abc'"),
    ("model.recursive=3", "model.recursive must be true or false, got 3"),
    # The paper's batch of 1 on two replicas (the session's two CPUs) handed one replica an
    # empty batch, which crashed inside a convolution kernel.
    ("runtime.strategy=mirrored data.batch_size=1",
     "data.batch_size (1) is smaller than the number of replicas (2): every replica needs at least one "
     "example; raise data.batch_size to 2 or set runtime.strategy=one_device"),
])
def test_nonsense_recipe_values_are_one_line_errors(capsys, tmp_path, override, message):
    recipe = small_recipe(tmp_path / "r.yaml", tmp_path / "run", max_steps=2)
    sets = [arg for value in override.split() for arg in ("--set", value)]
    code, _, err = run_cli(capsys, "train", recipe, *sets)
    assert code == 2 and err == f"zoo: error: {message}\n"
    assert not (tmp_path / "run").exists()


def test_task_and_model_options_of_other_families_are_range_checked():
    with pytest.raises(RecipeError, match=r"task\.label_smoothing must be a number in \[0, 1\), got 1"):
        load_recipe("slicenet/smoke", ["task.label_smoothing=1"])
    with pytest.raises(RecipeError, match=r"task\.pretrain_learning_rate must be a number > 0 or null"):
        load_recipe("recurrent/smoke_adding", ["task.pretrain_learning_rate=0"])
    with pytest.raises(RecipeError, match=r"model\.kernel_sizes must be a list of integers or a string"):
        load_recipe("slicenet/smoke", ["model.kernel_sizes=[3, 3.5, 3, 3]"])
    # Table 2's text form of a list stays valid (keras-tuner choices are scalars).
    assert load_recipe("slicenet/smoke", ["model.kernel_sizes=3-7-15-31"]).model.args["kernel_sizes"] == "3-7-15-31"


def test_an_empty_recipe_file_names_itself(capsys, tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    code, _, err = run_cli(capsys, "train", empty)
    assert code == 2 and err.startswith(f"zoo: error: recipe '{empty}' is empty") and "model" in err


def test_a_failed_start_leaves_nothing_that_blocks_the_corrected_rerun(capsys, tmp_path):
    run = tmp_path / "run"
    recipe = small_recipe(tmp_path / "r.yaml", run, max_steps=2)
    # The model's constructor rejects the value: one line, and no recipe.yaml left behind.
    code, _, err = run_cli(capsys, "train", recipe, "--set", "model.pooling=median")
    assert code == 2 and "pooling must be one of" in err and err.count("\n") == 1
    assert not (run / "recipe.yaml").exists()
    # A recipe.yaml of a run that never saved weights (an earlier version's failed start) binds nothing.
    save_recipe(load_recipe(recipe, ["model.features=8"]), run / "recipe.yaml")
    Trainer(load_recipe(recipe))._check_run_dir()
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "ckpt-1.index").write_bytes(b"")
    with pytest.raises(RecipeError, match="holds a different model"):
        Trainer(load_recipe(recipe))._check_run_dir()


def test_task_longer_than_the_model_names_the_real_fix(capsys, tmp_path):
    recipe = small_recipe(tmp_path / "r.yaml", tmp_path / "run", max_steps=2)
    code, _, err = run_cli(capsys, "train", recipe, "--set", "task.max_length=64")
    assert code == 2 and err.count("\n") == 1
    assert "task.max_length (64) exceeds the model's max_length (16)" in err
    assert "raise model.max_length to 64 or lower task.max_length to 16" in err and "overflow" not in err


@pytest.mark.parametrize("space, message", [
    ("{model.features: {min: 32, max: 8}}", "tune.space.model.features: min (32) is greater than max (8)"),
    ("{trainer.learning_rate: {min: 0.0, max: 0.1, sampling: log}}", "sampling log needs min > 0"),
    ("{model.features: {min: 8, max: 32, step: 0}}", "tune.space.model.features.step must be a number > 0"),
    ("{model.n: []}", "tune.space.model.n.choice must be a non-empty list"),
    ("{model.nope: [1, 2]}", "unknown recipe key 'model.nope'"),
    ("{trainer.learning_rate: {min: 0, max: 0.1}}", "trainer.learning_rate must be a number > 0, got 0"),
])
def test_malformed_tune_spaces_are_one_line_errors(capsys, tmp_path, space, message):
    recipe = small_recipe(tmp_path / "r.yaml", tmp_path / "run", max_steps=2)
    code, _, err = run_cli(capsys, "tune", recipe, "--set", f"tune.space={space}",
                           "--set", f"tune.directory={tmp_path / 'tune'}")
    assert code == 2 and err.startswith("zoo: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "tune").exists()


def test_ctrl_c_before_training_is_one_line_and_status_130(tmp_path):
    """SIGINT while the command still imports / loads (training's own handler not yet set)."""
    recipe = small_recipe(tmp_path / "r.yaml", tmp_path / "run", max_steps=5)
    proc = subprocess.Popen([sys.executable, "-m", "zoo_env", "train", recipe], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)  # importing TensorFlow alone takes longer
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGINT, err
    lines = [l for l in err.splitlines() if l.startswith("zoo:") or "Traceback" in l]
    assert lines == ["zoo: interrupted"], err
    assert not (tmp_path / "run" / "model.keras").exists()


@pytest.mark.slow
def test_a_full_disk_while_saving_a_checkpoint_is_one_line_and_keeps_the_last_one(tmp_path, capsys):
    """Issue 28 item 4: a full folder ended in a `ResourceExhaustedError` traceback from SaveV2.
    The disk fills up here by a file-size limit (RLIMIT_FSIZE) on a real `zoo train`: writes past
    it fail as they do on a full disk; the earlier checkpoint stays intact and the run resumes."""
    run = tmp_path / "run"
    recipe = small_recipe(tmp_path / "r.yaml", run, max_steps=2, checkpoint_every_steps=1, keep_checkpoints=5)
    assert run_cli(capsys, "train", recipe)[0] == 0
    data = max(p.stat().st_size for p in (run / "checkpoints").glob("ckpt-2.data-*"))
    longer = small_recipe(tmp_path / "r4.yaml", run, max_steps=4, checkpoint_every_steps=1, keep_checkpoints=5)
    limit = data // 2   # the next checkpoint's data file cannot be written; small files still can
    setup = ("import resource, signal, sys, zoo_env; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
             f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit})); "
             f"sys.argv = ['zoo', 'train', {str(longer)!r}]; sys.exit(zoo_env.main())")
    proc = subprocess.run([sys.executable, "-c", setup], env=ENV, capture_output=True, text=True, timeout=1800)
    err = [line for line in proc.stderr.splitlines() if line.startswith("zoo: ")]
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert len(err) == 1 and err[0].startswith("zoo: error: ") and "File too large" in err[0], proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert 2 in steps(run / "checkpoints") and not (run / "checkpoints" / "ckpt-3.index").exists() or \
        3 not in steps(run / "checkpoints")
    # The earlier checkpoint is intact: the run resumes from it and finishes once space is back.
    code, _, err = run_cli(capsys, "train", longer)
    assert code == 0, err
    assert json.loads((run / "metrics.json").read_text())["step"] == 4

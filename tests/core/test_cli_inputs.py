"""What a user types on the command line, taken as typed: a run folder named as the recipe is the
run (wherever its recipe's run_dir points, and a copy is the copy); paths and names with an emoji
or braces; numbers in exponent notation; a path that is no regular file; the shipped recipes'
run folders; `zoo score` of a file with empty lines; a multi-worker run that waits for its peers;
no start-up noise on stderr. Real runs, real files, real subprocesses."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import tensorflow as tf

from tests.helpers import phrase_corpus, tiny_recipe
from zoo.cli import main
from zoo.config import REPO_RECIPES, load_recipe, save_recipe

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
ENV.pop("TF_CPP_MIN_LOG_LEVEL", None)   # as a user's shell has it: zoo_env sets the default
TINY = dict(model={"features": 16, "max_length": 16}, task={"max_length": 16},
            data={"batch_size": 8, "max_paragraphs": 64, "max_test_paragraphs": 16},
            trainer={"max_steps": 2, "checkpoint_every_steps": 1, "eval_every_steps": 1000,
                     "log_every_steps": 1000, "text_samples": 0},
            runtime={"strategy": "one_device"})


def cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def latest_step(run) -> int:
    return int(tf.train.latest_checkpoint(str(Path(run) / "checkpoints")).rsplit("-", 1)[1])


def files_of(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in Path(folder).rglob("*") if p.is_file()}


# -- 5: the run folder named on the command line is the run -------------------------------------
def test_zoo_train_run_dir_trains_that_folder_from_anywhere_and_a_copy_is_the_copy(tmp_path, monkeypatch, capsys):
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir(), elsewhere.mkdir()
    save_recipe(tiny_recipe("runs/{name}", **TINY), home / "r.yaml")   # a relative run_dir, as shipped
    monkeypatch.chdir(home)
    assert cli(capsys, "train", "r.yaml")[0] == 0
    run = home / "runs" / "tiny"
    assert latest_step(run) == 2

    # From another directory, the absolute run folder resumes there (not ./runs/tiny here).
    monkeypatch.chdir(elsewhere)
    code, out, _ = cli(capsys, "train", run, "--set", "trainer.max_steps=3")
    assert code == 0 and "resumed from" in out
    assert latest_step(run) == 3 and list(elsewhere.iterdir()) == []

    # A copied run folder advances the copy; the original is left byte for byte as it was.
    monkeypatch.chdir(home)
    shutil.copytree(run, home / "runs" / "tiny_copy")
    before = files_of(run)
    code, out, _ = cli(capsys, "train", "runs/tiny_copy", "--set", "trainer.max_steps=4")
    assert code == 0 and "resumed from runs/tiny_copy/checkpoints/ckpt-3" in out
    assert latest_step(home / "runs" / "tiny_copy") == 4
    assert files_of(run) == before
    assert load_recipe(home / "runs" / "tiny_copy").run_dir == Path("runs/tiny_copy")


def test_run_and_export_folder_names_that_are_not_utf8_are_one_line_and_write_nothing(tmp_path, capsys):
    # Undecodable bytes reach Python as lone surrogates, which TensorFlow cannot encode (it used to
    # be a UnicodeEncodeError traceback once training reached its first checkpoint manager).
    recipe = tmp_path / "r.yaml"
    save_recipe(tiny_recipe("unused", **{**TINY, "trainer": {**TINY["trainer"], "max_steps": 1}}), recipe)
    bad_run, bad_export = (tmp_path / os.fsdecode(name) for name in (b"run\xff", b"export\xfe"))
    code, _, err = cli(capsys, "train", recipe, "--run-dir", bad_run)
    assert code == 2 and err == (f"zoo: error: run folder '{tmp_path}/run\\xff' is not valid UTF-8; TensorFlow "
                                 "writes only to UTF-8 paths: choose another name\n")
    code, _, err = cli(capsys, "train", recipe, "--run-dir", tmp_path / "ok", "--export", bad_export)
    assert code == 2 and err.startswith(f"zoo: error: export folder '{tmp_path}/export\\xfe' is not valid UTF-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.yaml"]   # nothing trained, nothing made


# -- 8: paths, names and numbers as typed -------------------------------------------------------
def test_an_emoji_and_braces_in_data_field_and_run_dir_are_taken_as_typed(tmp_path, capsys):
    phrases = phrase_corpus(tmp_path).read_bytes().split(b"\n\n")
    field = "tëxt😀"
    data = tmp_path / "dätä 😀.jsonl"
    data.write_text("".join(json.dumps({field: p.decode()}) + "\n" for p in phrases), encoding="utf-8")
    run = tmp_path / "runs" / "🦊 {name}"
    recipe = tmp_path / "r.yaml"
    save_recipe(tiny_recipe("unused", **{**TINY, "trainer": {**TINY["trainer"], "max_steps": 1}}), recipe)
    code, _, err = cli(capsys, "train", recipe, "--data", data, "--field", field, "--run-dir", run)
    assert code == 0, err
    assert latest_step(run) == 1   # the folder of that very name: no template, no surrogates
    resolved = load_recipe(run)
    assert (resolved.data.corpus, resolved.data.field) == (str(data), field)
    assert resolved.run_dir == run


def test_exponent_numbers_are_numbers_where_a_number_is_expected(capsys):
    code, out, err = cli(capsys, "recipe", "byte_rcae/smoke", "--set", "trainer.learning_rate=1e-3",
                         "--set", "trainer.weight_decay=5E-6", "--set", "trainer.max_steps=1e3",
                         "--set", "trainer.clipnorm=2.5e0")
    assert code == 0, err
    trainer = load_recipe(REPO_RECIPES / "byte_rcae" / "smoke.yaml",
                          ["trainer.learning_rate=1e-3", "trainer.max_steps=1e3"]).trainer
    assert (trainer.learning_rate, trainer.max_steps) == (0.001, 1000) and type(trainer.max_steps) is int
    assert "learning_rate: 0.001\n" in out and "weight_decay: 5.0e-06\n" in out and "max_steps: 1000\n" in out
    # Nothing else is loosened: a fraction is no integer, an overflow no number, quotes a string.
    for setting, expected in [("trainer.max_steps=1e-3", "trainer.max_steps must be a positive integer"),
                              ("trainer.learning_rate=1e999", "trainer.learning_rate must be a number"),
                              ("trainer.learning_rate='1e-3'", "trainer.learning_rate must be a number")]:
        code, _, err = cli(capsys, "recipe", "byte_rcae/smoke", "--set", setting)
        assert code == 2 and err.startswith(f"zoo: error: {expected}") and err.count("\n") == 1, err


def test_sampler_and_seed_settings_no_sampler_can_use_get_one_line(capsys, tmp_path):
    """Issue 28 items 4 and 7: `--beam 0` sampled silently, a NaN, infinite or -50 length penalty
    was taken, a huge `--seed` or `trainer.seed` ended in an OverflowError/ValueError traceback.
    The settings are refused before any export is opened (the path need not exist)."""
    export = tmp_path / "no_export"
    for args, expected in [(["--beam", "0"], "--beam must be an integer >= 1, got 0"),
                           (["--beam", "2", "--length-penalty", "nan"], "--length-penalty must be a finite number >= 0"),
                           (["--beam", "2", "--length-penalty", "inf"], "--length-penalty must be a finite number >= 0"),
                           (["--beam", "2", "--length-penalty", "-50"], "--length-penalty must be a finite number >= 0"),
                           (["--seed", str(2**70)], "--seed must be an integer in [0, 2**63)")]:
        code, out, err = cli(capsys, "generate", export, "--prompt", "a", *args)
        assert code == 2 and err.startswith(f"zoo: error: {expected}") and err.count("\n") == 1, (args, err)
    for key in ("trainer.seed", "data.seed"):
        code, _, err = cli(capsys, "recipe", "byte_rcae/smoke", "--set", f"{key}={2**32}")
        assert code == 2 and err.startswith(f"zoo: error: {key} must be an integer in [0, 4294967295]"), err
    code, out, _ = cli(capsys, "recipe", "byte_rcae/smoke", "--set", f"trainer.seed={2**32 - 1}")
    assert code == 0 and f"seed: {2**32 - 1}" in out


@pytest.mark.parametrize("kind", ["character device", "FIFO"])
def test_data_that_is_no_regular_file_says_what_it_is(kind, tmp_path, capsys):
    if kind == "FIFO":
        path = tmp_path / "pipe"
        os.mkfifo(path)
    else:
        path = Path("/dev/zero")
    code, _, err = cli(capsys, "train", "byte_rcae/smoke", "--data", path, "--run-dir", tmp_path / "run")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"zoo: error: '{path}' is a {kind}") and "not found" not in err


# -- 9: the shipped recipes' run folders ----------------------------------------------------------
def test_no_two_shipped_recipes_share_a_default_run_folder():
    from zoo.report.spec import EXPERIMENTS_FILE

    folders = {}
    for path in sorted(p for p in REPO_RECIPES.rglob("*.yaml") if p.name != EXPERIMENTS_FILE):
        folders.setdefault(load_recipe(path).run_dir, []).append(str(path.relative_to(REPO_RECIPES)))
    shared = {str(k): v for k, v in folders.items() if len(v) > 1}
    assert not shared, f"recipes that would train into one folder: {shared}"
    assert load_recipe("slicenet/smoke").run_dir == Path("runs/slicenet_smoke")
    # An explicit run_dir still wins.
    assert load_recipe("ram/smoke", ["runtime.run_dir=x/{name}"]).run_dir == Path("x/ram_smoke")


# -- 12: zoo score and empty lines ----------------------------------------------------------------
def test_zoo_score_skips_empty_lines_and_says_so(tmp_path, capsys):
    from zoo.export import export_model
    from zoo.training.trainer import Trainer

    config = load_recipe("lm/smoke", [f"runtime.run_dir={tmp_path / 'run'}", "runtime.strategy=one_device"])
    trainer = Trainer(config, log=lambda *a, **k: None)
    trainer.load_data()
    trainer.build()
    trainer.task.save_artifacts(tmp_path / "artifacts")
    export = export_model(trainer.model, config, tmp_path / "export", task=trainer.task,
                          artifacts=tmp_path / "artifacts")
    (tmp_path / "plain.txt").write_text("Save it\nDelete it\n")
    (tmp_path / "gaps.txt").write_text("\nSave it\n\nDelete it\n")
    code, plain, err = cli(capsys, "score", export, tmp_path / "plain.txt")
    assert code == 0 and err == ""
    code, gaps, err = cli(capsys, "score", export, tmp_path / "gaps.txt")
    assert code == 0
    assert err == ("zoo: note: 2 empty line(s) skipped (line 1, 3): an empty line has no character "
                   "to score\n")
    # The same scores as without the empty lines, under the lines' numbers in the file.
    rows = [line.split("\t") for line in gaps.splitlines()]
    assert [r[0] for r in rows] == ["2", "4", "total"]
    assert [r[1:] for r in rows[:2]] == [line.split("\t")[1:] for line in plain.splitlines()[:2]]
    assert rows[2][1] == plain.splitlines()[2].split("\t")[1].replace(")", "; 2 empty skipped)")
    (tmp_path / "empty.txt").write_text("\n\n")
    code, _, err = cli(capsys, "score", export, tmp_path / "empty.txt")
    assert code == 2 and "has no line to score (only empty lines)" in err and err.count("\n") == 1


# -- 8: a multi-worker run says it waits for its peers; 11: no start-up noise ---------------------
def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_a_worker_whose_peer_never_starts_says_it_waits_and_nothing_else(tmp_path):
    recipe = tmp_path / "r.yaml"
    save_recipe(tiny_recipe(tmp_path / "run", **{**TINY, "runtime": {"strategy": "auto"}}), recipe)
    ports = _free_ports(2)
    tf_config = {"cluster": {"worker": [f"localhost:{p}" for p in ports]}, "task": {"type": "worker", "index": 0}}
    proc = subprocess.Popen([sys.executable, "-m", "zoo_env", "train", str(recipe)], cwd=tmp_path,
                            env={**ENV, "TF_CONFIG": json.dumps(tf_config)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    guard = threading.Timer(600, proc.kill)   # only if the line never comes
    guard.start()
    try:
        # The first line on stderr, whenever it comes (the peer never does: the run would wait on).
        first = proc.stderr.readline()
    finally:
        guard.cancel()
        proc.kill()
        proc.wait()
    assert first == (f"zoo: worker 0 of a 2-process cluster (TF_CONFIG): waiting for worker 1 at "
                     f"localhost:{ports[1]} to start; the first step runs when all have\n")


def test_zoo_commands_write_nothing_but_their_own_lines_on_stderr():
    # `zoo list`, then a real error in the same process: stderr is exactly that error.
    script = ("import sys, zoo_env\n"
              "code = zoo_env.main(['list', 'ram_*'])\n"
              "from zoo.cli import main\n"
              "sys.exit(code or main(['recipe', 'no/such']))\n")
    proc = subprocess.run([sys.executable, "-c", script], env=ENV, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 2
    assert "ram_mnist" in proc.stdout
    assert proc.stderr.startswith("zoo: error: recipe not found: 'no/such'") and proc.stderr.count("\n") == 1, proc.stderr


NOISE = [b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
         b"I0000 00:00:1796620758.105421    3926 port.cc:153] oneDNN custom operations are on. You may "
         b"see slightly different numerical results",
         b"I0000 00:00:1796620758.118119    3926 cudart_stub.cc:31] Could not find cuda drivers on your "
         b"machine, GPU will not be used.",
         b"E0000 00:00:1796620775.570271    3926 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
         b"CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
         b"E0000 00:00:1796620775.570271      12 cuda_fft.cc:467] Unable to register cuFFT factory: "
         b"Attempting to register factory for plugin cuFFT when one has already been registered"]


@pytest.mark.parametrize("end", ["exit", "abort"])
def test_the_startup_filter_drops_only_the_known_lines_even_if_the_process_dies(end):
    """Real errors written at start-up, in C's stderr (fd 2) between the known notices, reach the
    terminal in order, also when the process aborts inside the filtered block."""
    lines = [NOISE[0], b"E0000 00:00:1.1 7 foo.cc:1] a real error", NOISE[1], NOISE[2],
             b"Traceback: also kept", NOISE[3], NOISE[4], b"no newline at the end"]
    payload = b"\n".join(lines)
    script = ("import os, sys, zoo_env\n"
              "with zoo_env.quiet_startup():\n"
              f"    os.write(2, {payload!r})\n"
              + ("    os.abort()\n" if end == "abort" else "")
              + "os.write(2, b'|after')\n")
    proc = subprocess.run([sys.executable, "-c", script], env={**ENV, "TF_CPP_MIN_LOG_LEVEL": "3"},
                          capture_output=True, timeout=600)
    expected = b"E0000 00:00:1.1 7 foo.cc:1] a real error\nTraceback: also kept\nno newline at the end"
    if end == "abort":
        assert proc.returncode == -signal.SIGABRT and proc.stderr == expected
    else:
        assert proc.returncode == 0 and proc.stderr == expected + b"|after"
    # TF_CPP_MIN_LOG_LEVEL=0 asks for TensorFlow's notices: nothing is filtered.
    proc = subprocess.run([sys.executable, "-c", script], env={**ENV, "TF_CPP_MIN_LOG_LEVEL": "0"},
                          capture_output=True, timeout=600)
    assert proc.stderr.startswith(payload)

"""User-facing entry points: clear one-line errors (exit 2), never a traceback."""
import pytest

import zoo
from zoo.cli import main
from tests.helpers import tiny_recipe
from zoo.config import save_recipe


@pytest.fixture
def recipe(tmp_path):
    path = tmp_path / "tiny.yaml"
    save_recipe(tiny_recipe(tmp_path / "run", trainer={"max_steps": 2}), path)
    return path


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("args, message", [
    (["--set", "trainer.epochz=3"], "unknown recipe key 'trainer.epochz'"),
    (["--set", "model.widthh=3"], "unknown recipe key 'model.widthh'"),
    (["--data", "/no/such/corpus.txt"], "not found: /no/such/corpus.txt"),
])
def test_train_errors_are_one_clear_line(capsys, recipe, args, message):
    code, out, err = run_cli(capsys, "train", recipe, *args)
    assert code == 2
    assert message in err and err.startswith("zoo: error:") and "Traceback" not in err


def test_empty_corpus(capsys, recipe, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n   \n\n")
    code, _, err = run_cli(capsys, "train", recipe, "--data", empty)
    assert code == 2 and "no usable paragraph" in err


def test_over_long_text_rejected_when_the_recipe_says_so(capsys, recipe, tmp_path):
    long = tmp_path / "long.txt"
    long.write_text("word " * 100)
    code, _, err = run_cli(capsys, "train", recipe, "--data", long, "--set", "task.overflow=reject")
    assert code == 2 and "task.overflow=split" in err


def test_export_and_eval_of_something_that_is_not_a_run(capsys, tmp_path):
    code, _, err = run_cli(capsys, "export", tmp_path, "--out", tmp_path / "out")
    assert code == 2 and "not a run directory" in err
    code, _, err = run_cli(capsys, "eval", tmp_path / "missing")
    assert code == 2 and "no such run or export directory" in err


def test_list_prints_registered_models(capsys):
    code, out, _ = run_cli(capsys, "list", "byte_rcae_n*")
    assert code == 0 and out.split()[::2] == ["byte_rcae_n16", "byte_rcae_n2", "byte_rcae_n4", "byte_rcae_n8"]


def test_main_job_train_export_reconstruct_eval(capsys, tmp_path, smoke_run):
    """The README's main job in miniature: train -> export (the session's byte_rcae smoke run,
    trained by `zoo train --export`) -> reconstruct -> eval."""
    import json

    shared = smoke_run("byte_rcae")
    run, out = shared.run, shared.export
    manifest = json.loads((out / "manifest.json").read_text())
    assert [m["depth"] for m in manifest["savedmodels"]] == [0, 1, 2]   # 16 bytes: 4, 8, 16

    code, stdout, _ = run_cli(capsys, "reconstruct", "a few words", "--model", out)
    assert code == 0 and stdout.endswith("\n")
    # The run (Keras model) and the export (SavedModels) reconstruct the same text.
    code2, stdout2, _ = run_cli(capsys, "reconstruct", "a few words", "--model", run)
    assert code2 == 0 and stdout2 == stdout

    code, _, err = run_cli(capsys, "reconstruct", "x" * 40, "--model", out)
    assert code == 2 and "40 bytes" in err
    _reconstruct_any_bytes(capsys, tmp_path, out, run)

    code, stdout, _ = run_cli(capsys, "eval", out, "--samples", "16", "--out", tmp_path / "ev")
    assert code == 0
    metrics = json.loads(stdout)
    assert metrics == json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert 0.0 <= metrics["test_byte_error"] <= 1.0
    # The one evaluation loop over the whole test split, as the trainer's final evaluation.
    assert metrics["byte_error"] == pytest.approx(shared.metrics["byte_error"], abs=1e-9)
    for png in ("eos_length_difference.png", "error_by_length.png", "mutation.png"):
        assert (tmp_path / "ev" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("family", [f.name for f in zoo.families()])
def test_every_family_s_run_and_export_evaluate_as_the_trainer_did(family, capsys, tmp_path, smoke_run):
    """`zoo eval RUN` and `zoo eval EXPORT` of each family's smoke run give the objective the
    trainer's final evaluation wrote, over the same test split."""
    import json

    shared = smoke_run(family)
    objective = zoo.task_entry(zoo.family(family).default_task).cls.objective
    assert objective in shared.metrics
    before = {p: p.stat().st_mtime_ns for p in [*shared.run.rglob("*"), *shared.export.rglob("*")]}
    for source in (shared.run, shared.export):
        code, stdout, err = run_cli(capsys, "eval", source, "--samples", "4", "--out", tmp_path / source.name)
        assert code == 0, err
        assert json.loads(stdout)[objective] == pytest.approx(shared.metrics[objective], rel=1e-5), source
    # Evaluation reads a run and an export, never writes into them (the session shares them).
    assert {p: p.stat().st_mtime_ns for p in [*shared.run.rglob("*"), *shared.export.rglob("*")]} == before


def test_recipe_prints_the_current_form_of_an_old_recipe(capsys, tmp_path):
    """A recipe written for the earlier layout (data.options, family knobs in data/trainer/eval)
    loads with one FutureWarning line, and `zoo recipe` prints it in the current form."""
    import warnings

    import yaml

    old = tmp_path / "old.yaml"
    old.write_text(yaml.safe_dump({
        "model": {"name": "stacked_lstm_adding", "units": 8},
        "data": {"batch_size": 16, "max_length": 1024, "options": {"task": "adding", "length": 12}},
        "trainer": {"divide_shared_gradients": True, "eval_batches": 20}, "eval": {"mutation_steps": 3}}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, out, err = run_cli(capsys, "recipe", old, "--set", "task.train_examples=96")
    assert code == 0, err
    assert [str(w.message).count("\n") for w in caught] == [0]
    assert "old form" in str(caught[0].message) and "data.options" in str(caught[0].message)
    new = yaml.safe_load(out)
    assert new["task"]["name"] == "adding" and new["task"]["length"] == 12
    assert new["task"]["train_examples"] == 96
    assert "options" not in new["data"] and "max_length" not in new["data"]
    assert "divide_shared_gradients" not in new["trainer"] and "eval_batches" not in new["trainer"]
    # The printed form loads again without a warning, to the same config.
    again = tmp_path / "new.yaml"
    again.write_text(out)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code, out2, _ = run_cli(capsys, "recipe", again)
    assert code == 0 and out2 == out


def test_families_mount_their_own_verbs(capsys):
    from zoo.cli import build_parser

    verbs = set(build_parser()._subparsers._group_actions[0].choices)
    assert {"list", "tasks", "corpora", "recipe", "train", "eval", "export", "tune"} < verbs
    assert {"reconstruct", "translate"} <= verbs   # byte_rcae's and slicenet's
    code, out, _ = run_cli(capsys, "tasks")
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == zoo_tasks()


def zoo_tasks():
    import zoo
    return zoo.list_tasks()


def _reconstruct_any_bytes(capsys, tmp_path, export, run):
    """`zoo reconstruct` reads any bytes (argv, --file, stdin) and writes the reconstruction's
    raw bytes: invalid UTF-8 neither crashes the input nor the output."""
    import io
    import os
    import subprocess
    import sys

    from zoo.models.byte_rcae.cli import reconstruct_bytes

    data = b"ab\xff\xfe c\xe9\x80"  # not UTF-8
    expected = reconstruct_bytes(export, data) + b"\n"
    assert reconstruct_bytes(run, data) + b"\n" == expected  # the Keras model agrees

    def cli_bytes(*args, stdin=None):
        capsys.readouterr()
        old = sys.stdin
        if stdin is not None:
            sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
        try:
            code = main([str(a) if isinstance(a, os.PathLike) else a for a in args])
        finally:
            sys.stdin = old
        # capsys decodes what it captured as UTF-8: take the raw bytes out of its buffer first.
        sys.stdout.flush()
        out = sys.stdout.buffer.getvalue()
        sys.stdout.buffer.seek(0)
        sys.stdout.buffer.truncate()
        return code, out, capsys.readouterr().err

    f = tmp_path / "para.bin"
    f.write_bytes(data)
    # (The argument's own bytes are the subprocess's below.)
    for args, stdin in [(("--file", f), None), ((), data)]:
        code, got, err = cli_bytes("reconstruct", *args, "--model", export, stdin=stdin)
        assert code == 0, err
        assert got == expected
    code, _, err = cli_bytes("reconstruct", "x", "--file", f, "--model", export)
    assert code == 2 and "not both" in err
    code, _, err = cli_bytes("reconstruct", "--file", tmp_path / "nope.bin", "--model", export)
    assert code == 2 and "no such file" in err
    code, _, err = cli_bytes("reconstruct", "a\0b", "--model", export)
    assert code == 2 and "NUL" in err

    # The real command line: argv bytes straight from the OS, stdout read as bytes.
    proc = subprocess.run([sys.executable, "-c", "import sys, zoo_env; sys.exit(zoo_env.main())",
                           "reconstruct", data, "--model", str(export)],
                          capture_output=True, timeout=120, env={**os.environ, "PYTHONIOENCODING": "ascii"})
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    assert proc.stdout == expected

"""Slow tier: the text VAE end to end through the command line, each step in its own process:
train the smoke recipe a little longer with `--export`, then sample from the prior and
interpolate between two texts with the export in fresh processes (`zoo sample`, `zoo interpolate`),
and evaluate the export as the trainer did."""
import json
import os
import subprocess
import sys

import pytest

ZOO = [sys.executable, "-c", "import sys, zoo_env; sys.argv[0] = 'zoo'; sys.exit(zoo_env.main())"]


def _zoo(*args, cwd):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([*ZOO, *map(str, args)], capture_output=True, text=True, timeout=1800, env=env, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_train_export_then_sample_and_interpolate_in_fresh_processes(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    run, export = tmp_path / "run", tmp_path / "export"
    _zoo("train", "textvae/smoke", "--set", "trainer.max_steps=40", "--set", "task.train_windows=160",
         "--run-dir", run, "--export", export, cwd=root)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["step"] == 40
    for key in ("bits_per_char", "kl", "reconstruction", "aux_loss", "active_units"):
        assert key in metrics and metrics[key] == metrics[key], key   # present and not NaN
    samples = _zoo("sample", export, "-n", 5, "--seed", 3, cwd=root).splitlines()
    assert len(samples) == 5
    assert _zoo("sample", export, "-n", 5, "--seed", 3, cwd=root).splitlines() == samples
    line = _zoo("interpolate", export, "the first text", "and another", "--steps", 4, cwd=root).splitlines()
    assert len(line) == 4
    evaluated = json.loads(_zoo("eval", export, "--out", tmp_path / "ev", cwd=root))
    assert evaluated["bits_per_char"] == pytest.approx(metrics["bits_per_char"], rel=1e-5)
    assert json.loads((tmp_path / "ev" / "samples.json").read_text())["prior"]
    from zoo.models.textvae.plots import eval_curves, plot_collapse

    assert [s for s, _ in eval_curves(run)["kl"]] == [40]
    png = plot_collapse({"smoke": run}, tmp_path / "collapse.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

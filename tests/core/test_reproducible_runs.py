"""A resolved recipe and seed give bit-identical metrics however the run is launched: in a fresh
`zoo train` process, or in a process that trained another model first (as `zoo report` does), on
one or two logical devices as the recipe says. Every run records its provenance."""
import json
import subprocess
import sys

import pytest

from zoo.config import load_recipe, save_recipe
from zoo.training.trainer import train

# Recurrent dropout whose numbers move with op determinism (the reviewer's Table 3.1 row); a few
# steps, so a difference in any kernel shows in the loss.
TARGET = {
    "name": "repro_target",
    "model": {"name": "lstm_temporal_order", "units": 16, "recurrent_dropout": 0.5, "scheme": "moon",
              "mask_sampling": "per_sequence"},
    "task": {"name": "temporal_order", "length": 9, "train_examples": 128, "test_examples": 64,
             "train_metric_examples": 64},
    "data": {"batch_size": 16},
    "trainer": {"optimizer": "adam", "learning_rate": 0.02, "weight_decay": 0.0, "max_steps": 30,
                "log_every_steps": 10, "eval_every_steps": 1000, "checkpoint_every_steps": 1000},
    "runtime": {"progress": False, "deterministic": False},
}
# Another model, trained first in the same process, with op determinism on (process-wide in TF).
OTHER = {
    "name": "repro_other",
    "model": {"name": "stacked_lstm_adding", "units": 8, "num_layers": 1},
    "task": {"name": "adding", "length": 10, "train_examples": 64, "test_examples": 32,
             "train_metric_examples": 32},
    "data": {"batch_size": 16},
    "trainer": {"optimizer": "adam", "max_steps": 5, "log_every_steps": 5, "eval_every_steps": 1000,
                "checkpoint_every_steps": 1000},
    "runtime": {"progress": False, "deterministic": True, "strategy": "one_device"},
}


def _metrics(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics.pop("train_seconds")   # wall-clock time, the one thing that may differ
    return metrics


def _zoo_train(recipe, run_dir):
    # The `zoo` executable's entry point, in a fresh process.
    code = "import sys, zoo_env; sys.exit(zoo_env.main(sys.argv[1:]))"
    out = subprocess.run([sys.executable, "-c", code, "train", str(recipe), "--set",
                          f"runtime.run_dir={json.dumps(str(run_dir))}"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]


@pytest.mark.parametrize("devices", [{"strategy": "one_device"},
                                     {"strategy": "mirrored", "logical_cpus": 2}],
                         ids=["one_device", "two_logical_cpus"])
def test_a_run_after_another_model_equals_a_fresh_zoo_train(tmp_path, devices):
    train(load_recipe({**OTHER, "runtime": {**OTHER["runtime"], "run_dir": str(tmp_path / "other")}}))
    raw = {**TARGET, "runtime": {**TARGET["runtime"], **devices, "run_dir": str(tmp_path / "here")}}
    config = load_recipe(raw)
    train(config)
    recipe = tmp_path / "target.yaml"
    save_recipe(config, recipe)
    _zoo_train(recipe, tmp_path / "fresh")
    here, fresh = _metrics(tmp_path / "here"), _metrics(tmp_path / "fresh")
    # The `zoo` entry point sets its environment defaults (provenance's kernel_settings) where this
    # process has TensorFlow's own, which are the same kernels on Linux x86.
    ours, theirs = here.pop("provenance"), fresh.pop("provenance")
    assert here == fresh
    ours.pop("kernel_settings"), theirs.pop("kernel_settings")
    assert ours == theirs and ours["op_determinism"] is False


def test_every_run_records_its_provenance(tmp_path):
    import keras
    import tensorflow as tf

    raw = {**OTHER, "runtime": {**OTHER["runtime"], "run_dir": str(tmp_path / "run")}}
    returned = train(load_recipe(raw))
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())["provenance"]
    assert saved == returned["provenance"]
    assert saved["tensorflow"] == tf.__version__ and saved["keras"] == keras.__version__
    assert saved["zoo"] and saved["cpu"] and saved["cpu_cores"] >= 1
    assert saved["op_determinism"] is True   # OTHER asks for it
    assert isinstance(saved["kernel_settings"], dict) and isinstance(saved["cpu_flags"], list)

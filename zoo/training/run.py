"""A run directory: the resolved recipe, checkpoints, TensorBoard logs and the trained model.

    runs/<name>/recipe.yaml       resolved recipe (written before training starts)
    runs/<name>/checkpoints/      tf.train checkpoints: model, optimizer, step, epoch (resumable)
    runs/<name>/tb/               TensorBoard event files (train/, eval/, hparams)
    runs/<name>/model.keras       the trained model (written atomically when training ends)
    runs/<name>/metrics.json      final evaluation metrics
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from zoo.config import ExperimentConfig, RecipeError, load_recipe


class RunError(ValueError):
    """A path that is not a usable run directory."""


def is_run_dir(path) -> bool:
    p = Path(path)
    return (p / "recipe.yaml").is_file()


def require_run_dir(path) -> Path:
    p = Path(path)
    if not p.exists():
        raise RunError(f"run directory does not exist: {str(p)!r}")
    if not is_run_dir(p):
        raise RunError(f"{str(p)!r} is not a run directory (no recipe.yaml); "
                       f"give the folder `zoo train` wrote, e.g. runs/<recipe-name>")
    if not ((p / "model.keras").is_file() or (p / "checkpoints" / "checkpoint").is_file()):
        raise RunError(f"run {str(p)!r} has no trained model yet (no model.keras, no checkpoint)")
    return p


def load_run_config(path) -> ExperimentConfig:
    p = Path(path)
    try:
        return load_recipe(p / "recipe.yaml")
    except RecipeError as e:
        raise RunError(f"run {str(p)!r}: {e}") from None


def load_run(path):
    """(config, model) of a run: `model.keras` if training finished, else the latest checkpoint."""
    import keras
    import tensorflow as tf

    from zoo.registry import create_model

    p = require_run_dir(path)
    config = load_run_config(p)
    if (p / "model.keras").is_file():
        return config, keras.models.load_model(p / "model.keras")
    model = create_model(config.model.name, build=True, **config.model.args)
    ckpt = tf.train.Checkpoint(model=model)
    ckpt.restore(tf.train.latest_checkpoint(p / "checkpoints")).expect_partial()
    return config, model


def atomic_write_json(path, obj) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


def atomic_save_keras(model, path) -> None:
    """Save `.keras` next to its destination, then rename: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)

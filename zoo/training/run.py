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


def model_checkpoint(model, **others):
    """A `tf.train.Checkpoint` that holds every model weight by its path inside the model.

    Keras 3 does not expose layers kept in Python lists to `tf.train.Checkpoint`, so the model's
    variables are listed explicitly (keyed without the model's own, process-dependent name).
    """
    import tensorflow as tf

    weights = {}
    for v in model.weights:
        key = v.path.split("/", 1)[-1]
        if key in weights:
            raise ValueError(f"two weights of {model.name} share the path {key!r}")
        weights[key] = v.value if hasattr(v, "value") and isinstance(v.value, tf.Variable) else v
    return tf.train.Checkpoint(model_weights=weights, **others)


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
    model_checkpoint(model).restore(tf.train.latest_checkpoint(p / "checkpoints")).expect_partial()
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


def load_source(path):
    """(config, model, folder) from a run directory or an export directory (`zoo eval`)."""
    import keras

    p = Path(path)
    if (p / "manifest.json").is_file() and (p / "model.keras").is_file():
        manifest = json.loads((p / "manifest.json").read_text())
        try:
            config = load_recipe(manifest["recipe"])
        except (KeyError, RecipeError) as e:
            raise RunError(f"export {str(p)!r} has an unusable recipe in manifest.json: {e}") from None
        return config, keras.models.load_model(p / "model.keras"), p
    if not p.exists():
        raise RunError(f"no such run or export directory: {str(p)!r}")
    if not is_run_dir(p):
        raise RunError(f"{str(p)!r} is neither a run directory (recipe.yaml) nor an export "
                       f"(manifest.json + model.keras)")
    config, model = load_run(p)
    return config, model, p


def reconstruct_text(path, text: str) -> str:
    """Auto-encode `text` with an export (through its SavedModels) or a run (Keras model)."""
    p = Path(path)
    if (p / "manifest.json").is_file():
        from zoo.export.client import ByteAutoencoderClient

        out = ByteAutoencoderClient(p).reconstruct(text)
        return out if isinstance(out, str) else out.decode("utf-8", errors="replace")
    import numpy as np

    from zoo.data import decode_bytes, encode_batch, fit_paragraphs, padded_length, to_text
    from zoo.data.errors import ZooDataError

    _, model, _ = load_source(p)
    data = text.encode("utf-8")
    if padded_length(len(data)) > model.max_length:
        raise ZooDataError(f"text is {len(data)} bytes; this model reads at most "
                           f"{model.max_length - 1} bytes (plus the end-of-sequence byte)")
    data = fit_paragraphs([data], model.max_length, "reject")[0] if data.strip() else data
    ids = encode_batch([data], length=model.fixed_length)
    return to_text(decode_bytes(np.argmax(model(ids, training=False), -1)[0]))

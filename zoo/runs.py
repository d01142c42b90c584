"""Run folders: what `zoo train` writes, and reading it back.

    runs/<name>/recipe.yaml       the resolved recipe (written before training starts)
    runs/<name>/artifacts/        what the task needs besides the weights to evaluate and export
                                  the run without its corpus (tokenizer, vocabulary, eval split)
    runs/<name>/checkpoints/      tf.train checkpoints of the main phase (resumable)
    runs/<name>/stages/<phase>/   checkpoints of the phases before it (e.g. one per pretrained depth)
    runs/<name>/tb/               TensorBoard event files (train/, eval/, one folder per phase, hparams)
    runs/<name>/model.keras       the trained model (written atomically when training ends)
    runs/<name>/metrics.json      final evaluation metrics
    runs/<name>/train.lock        held (flock) by the `zoo train` using the folder; the kernel
                                  drops the lock when that process ends, however it ends

A checkpoint that does not read back whole (a truncated or deleted file) is skipped with a
warning for the newest one that does (`restore_intact`), by resumed training and by `load_run`.
"""
from __future__ import annotations

import contextlib
import os
import re
import warnings
from pathlib import Path

from zoo.config import ExperimentConfig, RecipeError, load_recipe
from zoo.errors import ZooError
from zoo.io import load_keras_file

RECIPE = "recipe.yaml"
ARTIFACTS = "artifacts"
CHECKPOINTS = "checkpoints"
STAGES = "stages"
KERAS_FILE = "model.keras"
METRICS = "metrics.json"
LOCK = "train.lock"
CHECKPOINT_STATE = "checkpoint"   # tf.train's state file listing a folder's checkpoints


class RunError(ZooError, ValueError):
    """A path that is not a usable run directory."""


def is_run_dir(path) -> bool:
    return (Path(path) / RECIPE).is_file()


def require_run_dir(path) -> Path:
    p = Path(path)
    if not p.exists():
        raise RunError(f"run directory does not exist: {str(p)!r}")
    if not is_run_dir(p):
        raise RunError(f"{str(p)!r} is not a run directory (no {RECIPE}); "
                       f"give the folder `zoo train` wrote, e.g. runs/<recipe-name>")
    if not ((p / KERAS_FILE).is_file() or checkpoint_candidates(p / CHECKPOINTS)):
        raise RunError(f"run {str(p)!r} has no trained model yet (no {KERAS_FILE}, no checkpoint)")
    return p


def load_run_config(path) -> ExperimentConfig:
    p = Path(path)
    try:
        return load_recipe(p / RECIPE)
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
    """(config, model) of a run: `model.keras` if training finished, else the newest intact
    checkpoint; a damaged `model.keras` is a RunError naming it."""
    from zoo.registry import create_model

    p = require_run_dir(path)
    config = load_run_config(p)
    if (p / KERAS_FILE).is_file():
        return config, load_keras_file(p / KERAS_FILE, RunError,
                                       "delete it to fall back to the run's latest checkpoint")
    model = create_model(config.model.name, build=True, **config.model.kwargs())
    restore_intact(model_checkpoint(model), p / CHECKPOINTS, partial=True)
    return config, model


# -- checkpoints -----------------------------------------------------------------------------
_CKPT_INDEX = re.compile(r"^(.+-(\d+))\.index$")


def _checkpoint_step(path: str) -> int:
    tail = str(path).rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def checkpoint_candidates(directory) -> list[str]:
    """The checkpoints of a folder, newest first: those its state file lists, then (the last
    resort, e.g. when the state file itself is gone) any other `<prefix>-<step>.index` there."""
    import tensorflow as tf

    d = Path(directory)
    if not d.is_dir():
        return []
    listed: list[str] = []
    try:
        state = tf.train.get_checkpoint_state(str(d))
    except Exception:  # an unparsable state file: fall back to the files on disk
        state = None
    if state is not None:
        listed = list(state.all_model_checkpoint_paths) or [state.model_checkpoint_path]
    names = {Path(p).name for p in listed}
    on_disk = [str(d / m.group(1)) for m in map(_CKPT_INDEX.match, os.listdir(d))
               if m and m.group(1) not in names]
    return (sorted(listed, key=_checkpoint_step, reverse=True)
            + sorted(on_disk, key=_checkpoint_step, reverse=True))


def _reason(error: BaseException) -> str:
    text = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {text[:160]}" if text else type(error).__name__


def restore_intact(checkpoint, directory, *, partial: bool = False) -> str | None:
    """Restore `checkpoint` from the newest checkpoint in `directory` that reads back whole and
    return its path; None when the folder has no checkpoint at all.

    Each newer, unreadable one is named in a one-line warning. A folder whose checkpoints all
    fail to read is a RunError: starting over from step 0 would silently discard the run.
    `partial` allows the checkpoint to hold more than `checkpoint` tracks (a model without
    its optimizer)."""
    import tensorflow as tf

    failures = []
    for path in checkpoint_candidates(directory):
        try:
            status = checkpoint.restore(path)
            if partial:
                status.expect_partial()
            else:
                status.assert_existing_objects_matched()
        except (tf.errors.OpError, IndexError, ValueError, AssertionError, OSError) as e:
            failures.append(f"{Path(path).name} ({_reason(e)})")
            continue
        for failure in failures:
            warnings.warn(f"skipped unreadable checkpoint {Path(directory) / failure}; "
                          f"restored {Path(path).name} instead", RuntimeWarning, stacklevel=2)
        return path
    if failures:
        raise RunError(f"no intact checkpoint in {str(directory)!r}: {'; '.join(failures)}; "
                       f"restore the files, or delete the folder to start over")
    return None


def adopt_checkpoint(directory, path: str) -> None:
    """Make `path` the latest checkpoint the folder's state file lists, forgetting newer ones
    (unreadable ones `restore_intact` skipped), so the next save, the checkpoints kept and
    checkpoint averaging continue from it."""
    import tensorflow as tf

    step = _checkpoint_step(path)
    kept = [p for p in checkpoint_candidates(directory) if _checkpoint_step(p) < step][::-1]
    tf.compat.v1.train.update_checkpoint_state(str(directory), str(path),
                                               all_model_checkpoint_paths=[*kept, str(path)])


# -- the run lock ----------------------------------------------------------------------------
@contextlib.contextmanager
def run_lock(folder):
    """Hold `folder/train.lock` (an exclusive, non-blocking `flock`) while training into it:
    a second `zoo train` on the folder fails at once instead of overwriting the checkpoints.
    The kernel releases the lock when the holder's process ends, so a killed run never
    leaves it stuck; the file itself stays and means nothing when nobody holds it."""
    import fcntl

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (BlockingIOError, PermissionError):
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
            raise RunError(f"run directory {str(folder)!r} is in use by another `zoo train`"
                           + (f" (process {holder})" if holder else "")
                           + "; wait for it, stop it, or choose another --run-dir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def prepare_task(config: ExperimentConfig, folder=None, *, need_data: bool = True):
    """The recipe's task, restored from `folder`'s artifacts (a run or an export) when it has
    them; otherwise, when `need_data`, from the corpus (runs written before artifacts existed)."""
    from zoo.registry import create_task

    task = create_task(config)
    restored = folder is not None and task.restore(Path(folder) / ARTIFACTS)
    if not restored and need_data:
        task.load_data()
    return task

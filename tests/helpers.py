"""Shared test helpers: a tiny recipe every trainer-level test builds on, real short phrases, and
`zoo train` as a real process (started, SIGKILLed after a checkpoint, rerun to the end)."""
import os
import subprocess
import sys
import time
from pathlib import Path

from zoo.config import load_recipe

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
# A loaded machine (load 10 on 2 cores) slows training tenfold and more: wait on files, with a
# deadline that only a hung process reaches.
DEADLINE_S = 30 * 60


def tiny_recipe(run_dir, **sections):
    raw = {
        "name": "tiny",
        "model": {"name": "byte_rcae_n2", "features": 32, "max_length": 64},
        "task": {"name": "byte_autoencoder", "max_length": 64},
        "data": {"corpus": "english", "batch_size": 16, "max_paragraphs": 256, "max_test_paragraphs": 64},
        "trainer": {"optimizer": "adam", "learning_rate": 0.003, "weight_decay": 0.0, "epochs": 100,
                    "max_steps": 40, "log_every_steps": 10, "eval_every_steps": 20,
                    "checkpoint_every_steps": 10, "text_samples": 2},
        "runtime": {"run_dir": str(run_dir), "progress": False},
    }
    for section, values in sections.items():
        raw.setdefault(section, {}).update(values)
    return load_recipe(raw)


def phrase_corpus(folder, count=64, words_per_phrase=2, repeat=1):
    """Short phrases of real English (CPython's pydoc topics) that a tiny model learns in seconds;
    `repeat` copies of each make a pass longer (each pass over the data is a new tf.data pipeline)."""
    from zoo.data import load_corpus

    words = b" ".join(load_corpus("english")[:40]).split()
    phrases = [b" ".join(words[i:i + words_per_phrase])
               for i in range(0, count * words_per_phrase, words_per_phrase)]
    path = folder / "phrases.txt"
    path.write_bytes(b"\n\n".join(phrases * repeat))
    return path


def scalars(event_dir, tag):
    """(step, value) of a TensorBoard scalar, read from the event files as TensorBoard does."""
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(event_dir), size_guidance={"tensors": 0})
    acc.Reload()
    return [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]


def zoo_cmd(*args, module="zoo_env"):
    """The `zoo` command as its console script runs it (zoo_env sets the TF defaults first)."""
    return [sys.executable, "-m", module, *map(str, args)]


def recorded_step(checkpoints) -> int | None:
    """The step of the checkpoint TensorFlow's state file records (what a rerun resumes from),
    None while there is none. TensorFlow rewrites the state file atomically after each save."""
    import tensorflow as tf

    checkpoints = Path(checkpoints)
    latest = tf.train.latest_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    return int(latest.rsplit("-", 1)[1]) if latest else None


def kill_after_checkpoint(recipe, run, min_step, folder="checkpoints", env=None, module="zoo_env"):
    """Start `zoo train RECIPE --run-dir RUN`, SIGKILL it once the state file in `run/folder`
    records a checkpoint of step >= min_step, and return the step a rerun resumes from there
    (checkpoints after it may be half written: the kill can land inside a save)."""
    run = Path(run)
    log = run.parent / f"{run.name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(zoo_cmd("train", recipe, "--run-dir", run, module=module), env=env or ENV,
                                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.time() + DEADLINE_S
    try:
        while (recorded_step(run / folder) or 0) < min_step:
            if proc.poll() is not None:
                raise AssertionError(f"training exited ({proc.returncode}) before a checkpoint of step "
                                     f">= {min_step} in {folder}:\n{log.read_text()[-3000:]}")
            if time.time() > deadline:
                raise AssertionError(f"no checkpoint of step >= {min_step} in {DEADLINE_S} s:\n"
                                     f"{log.read_text()[-3000:]}")
            time.sleep(0.02)
    finally:
        proc.kill()  # SIGKILL: no chance to save anything more
        proc.wait()
    assert not (run / "model.keras").exists(), "the run finished before it could be killed"
    return recorded_step(run / folder)


def train_to_end(*args, env=None, module="zoo_env") -> str:
    """`zoo train ARGS` to the end (it must succeed); its output."""
    out = subprocess.run(zoo_cmd("train", *args, module=module), env=env or ENV, capture_output=True,
                         text=True, timeout=DEADLINE_S, cwd=ROOT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout + out.stderr

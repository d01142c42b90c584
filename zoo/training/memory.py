"""Memory a run needs, estimated before anything is allocated.

A recipe whose model cannot fit (`--set model.units=1000000000`) used to fail minutes later with
TensorFlow's out-of-memory traceback, or take the machine's swap with it. Before the real build,
the trainer builds the model once more with no memory behind its weights: inside Keras's
`StatelessScope` without initialisation every `add_weight` records a shape and nothing else, and
the model is called on symbolic inputs (`keras.KerasTensor`), so even weights a model creates in
its first call exist only as shapes. From them: the weights, their gradients and the optimizer's
slots (counted by building the recipe's own optimizer on a one-element variable). That is a lower
bound, activations come on top, so a run is refused only when the lower bound alone is more than
the machine's memory (physical, or the cgroup's limit when lower). What runs out later anyway
(activations of a batch too large) is `out_of_memory_message`'s one line, in the CLI.
"""
from __future__ import annotations

import contextlib
import math
import os
import re
from pathlib import Path

from zoo.errors import ZooError


MAX_LAYERS = 4096   # layer objects a model may make (about 20x the largest registered model's)


class OutOfMemory(ZooError, MemoryError):
    """A size that cannot fit in this machine's memory, refused before it was allocated."""


def machine_memory() -> int | None:
    """Bytes of memory this process may use: physical memory, or its cgroup's limit if lower."""
    sizes = []
    try:
        sizes.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        pass
    for limit in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:   # v1 writes a huge number for "no limit"
            sizes.append(int(text))
    return min(sizes) if sizes else None


def human_bytes(n: float) -> str:
    """1,536 -> '1.5 KB' (decimal units, as `df -H`)."""
    for unit in ("B", "KB", "MB", "GB", "TB", "PB", "EB"):
        if abs(n) < 1000 or unit == "EB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} EB"


def check_fits(what: str, nbytes: float, advice: str = "") -> None:
    """OutOfMemory naming `what` if `nbytes` exceed this machine's memory (unknown memory: pass)."""
    have = machine_memory()
    if have is not None and nbytes > have:
        tail = f": {advice}" if advice else ""
        raise OutOfMemory(f"{what} would take {human_bytes(nbytes)}; this machine has "
                          f"{human_bytes(have)}{tail}")


_SHAPES: dict[str, list] = {}   # one shapes-only build per model and settings in a process


def symbolic_weights(model_name: str, kwargs: dict) -> list[tuple[str, tuple[int, ...], int]]:
    """(path, shape, bytes per value) of every weight the registered model `model_name` built
    with `kwargs` would have, found without allocating them (see the module docstring)."""
    key = f"{model_name}:{sorted(kwargs.items())!r}"
    if key not in _SHAPES:
        _SHAPES[key] = _symbolic_weights(model_name, kwargs)
    return list(_SHAPES[key])


@contextlib.contextmanager
def _invisible():
    """Leave no trace of what runs inside: Python's and numpy's global random states (Keras draws
    unseeded `SeedGenerator`s from Python's), and Keras's global state (auto-name counters, the
    global seed generator, the registry of uninitialised variables). Without this the real build
    after a shapes-only one got other random draws than a process that had cached the shapes, so
    a run's initial weights depended on what ran before it in the process."""
    import copy
    import random

    import numpy as np
    from keras.src.backend.common import global_state

    tracker = global_state.GLOBAL_STATE_TRACKER
    saved = {k: copy.copy(v) if isinstance(v, (dict, list)) else v for k, v in vars(tracker).items()}
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        vars(tracker).clear()
        vars(tracker).update(saved)
        random.setstate(py_state)
        np.random.set_state(np_state)


def _symbolic_weights(model_name, kwargs):
    import keras
    import numpy as np
    import tensorflow as tf

    from zoo.registry import model_entry

    entry = model_entry(model_name)
    layer_new, made = keras.layers.Layer.__new__, [0]

    def counted_new(cls, *args, **kwargs):
        # A count knob set to millions (stacks, num_layers) would spend minutes making Python
        # layer objects before any weight exists: stop at MAX_LAYERS.
        made[0] += 1
        if made[0] > MAX_LAYERS:
            raise OutOfMemory(f"model {model_name!r} with these settings makes more than {MAX_LAYERS:,} "
                              f"layers (the largest registered model has about 200); make it smaller")
        return layer_new(cls, *args, **kwargs)

    keras.layers.Layer.__new__ = staticmethod(counted_new)
    try:
        with _invisible(), keras.StatelessScope(initialize_variables=False):
            model = entry.factory(**{**entry.defaults, **kwargs})
            example = (entry.example_input(model, 1, np.random.default_rng(0))
                       if entry.example_input is not None else None)
            if model.built:
                pass
            elif example is None:
                model.build()
            else:
                model(tf.nest.map_structure(
                    lambda a: keras.KerasTensor(np.shape(a), dtype=np.asarray(a).dtype.name), example))
            return [(v.path, tuple(int(d) for d in v.shape), np.dtype(v.dtype).itemsize)
                    for v in model.weights]
    finally:
        keras.layers.Layer.__new__ = layer_new


def optimizer_slots(trainer_config) -> int:
    """Values the recipe's optimizer keeps per weight value (Adam 2, SGD with momentum 1, ...)."""
    import keras

    from zoo.training.optimizers import make_optimizer

    opt = make_optimizer(trainer_config, steps_per_epoch=1, total_steps=1)
    probe = keras.Variable([0.0], name="probe")
    opt.build([probe])
    return sum(1 for v in opt.variables if tuple(v.shape) == (1,))


def training_memory(config) -> dict:
    """Lower bound of a run's memory: weights, gradients and optimizer slots of its model."""
    weights = symbolic_weights(config.model.name, config.model.kwargs())
    values = sum(math.prod(s) for _, s, _ in weights)
    weight_bytes = sum(math.prod(s) * b for _, s, b in weights)
    slots = optimizer_slots(config.trainer)
    largest = max(weights, key=lambda w: math.prod(w[1]) * w[2], default=None)
    return {"parameters": values, "weight_bytes": weight_bytes, "optimizer_slots": slots,
            "bytes": weight_bytes * (2 + slots), "largest": largest}


def check_training_memory(config) -> dict | None:
    """RecipeError with the estimate when the run's model cannot fit in this machine's memory."""
    have = machine_memory()
    try:
        est = training_memory(config)
    except (ValueError, TypeError):
        return None   # the real build reports the constructor's own message
    if have is None or est["bytes"] <= have:
        return est
    path, shape, _ = est["largest"]
    slots = est["optimizer_slots"]
    opt = config.trainer.optimizer
    raise OutOfMemory(
        f"model {config.model.name!r}{_settings(config)} cannot be trained here: its "
        f"{est['parameters']:,} parameters take {human_bytes(est['weight_bytes'])}, "
        f"{human_bytes(est['bytes'])} with their gradients and {opt}'s {slots} "
        f"value{'s' if slots != 1 else ''} per weight (largest weight {path} {list(shape)}), before "
        f"any activation; this machine has {human_bytes(have)}: make the model smaller")


def _settings(config) -> str:
    """' (model.units=100000)': the recipe's model settings that differ from the variant's."""
    from zoo.registry import model_entry

    defaults = model_entry(config.model.name).defaults
    changed = [f"model.{k}={v}" for k, v in config.model.kwargs().items()
               if defaults.get(k, _MISSING) != v and not isinstance(v, (list, dict, tuple))]
    return f" ({', '.join(changed[:4])})" if changed else ""


_MISSING = object()


_OOM = re.compile(r"OOM when allocating tensor with shape\s*\[([\d,\s]*)\]\s*and type (\w+)")


def out_of_memory_message(error: BaseException) -> str | None:
    """One line for an allocation that failed (TensorFlow's OOM, numpy's or Python's
    MemoryError), or None if `error` is not one."""
    text = " ".join(str(getattr(error, "message", error)).split())
    m = _OOM.search(text)
    if m:
        import tensorflow as tf

        shape = [int(d) for d in m.group(1).replace(" ", "").split(",") if d]
        try:
            size = tf.dtypes.as_dtype(m.group(2)).size   # TensorFlow's names: "float" is 4 bytes
        except TypeError:
            size = 4
        return (f"out of memory: a tensor of shape {shape} ({m.group(2)}, "
                f"{human_bytes(math.prod(shape) * size)}) could not be allocated; a smaller batch "
                f"(data.batch_size) or model needs less; the checkpoints saved so far are kept")
    if isinstance(error, MemoryError):
        what = text or "an allocation failed"
        return f"out of memory: {what}; the checkpoints saved so far are kept"
    return None

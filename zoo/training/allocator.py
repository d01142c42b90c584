"""glibc's malloc thresholds for training: undo TensorFlow's tf.data "memory patch".

TensorFlow (2.21: `tensorflow::data::ApplyPython311MemoryPatch`, generator_dataset_op.cc) calls
`mallopt(M_MMAP_THRESHOLD, 128 KiB)` once per process, when the first GeneratorDataset is made,
to keep resident memory from creeping up under `Dataset.from_generator` on Python 3.11
(tensorflow issues 60659, 65675). Its log line says "M_TRIM_THRESHOLD=128 kb"; the option it
sets is -3, the mmap threshold. tf.distribute's multi-device iterator is such a dataset, so every
`Trainer` run gets the patch. A fixed threshold also switches off glibc's sliding one (which
rises to the size of the largest freed mmap'd block, up to 32 MiB): from then on every buffer of
128 KiB or more, most of a training step's activations and gradients, is a fresh mmap that the
kernel zero-fills page by page on first touch and unmaps on free. The byte RCAE's step (n=2,
L=256, B=4) took ~30k page faults instead of ~300 and ran 1.15-1.2x slower (benchmarks/README.md,
"Allocator").

`tune_malloc()` (the Trainer calls it when it builds) makes TensorFlow apply its patch now, so it
cannot land later, and then sets the thresholds glibc's sliding rule ends at: mmap above 32 MiB
(`MMAP_THRESHOLD`, the largest glibc accepts on 64-bit) and trim the heap's top above 64 MiB
(`TRIM_THRESHOLD`). Freed step buffers are then reused instead of remapped; the cost is that up
to that much freed memory may stay resident, as in any glibc process without the patch. Results
do not change (the allocator decides where buffers live, not what is computed in them).

    ZOO_MALLOC=glibc        (default) the thresholds above
    ZOO_MALLOC=tensorflow   leave TensorFlow's 128 KiB mmap threshold in place

Elsewhere than glibc Linux it does nothing.
"""
from __future__ import annotations

import ctypes
import functools
import os
import sys

from zoo.errors import ZooError

ENV = "ZOO_MALLOC"
MODES = ("glibc", "tensorflow")
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3   # glibc's malloc.h
TENSORFLOW_THRESHOLD = 128 << 10   # what TensorFlow's patch sets (and glibc's initial trim threshold)
MMAP_THRESHOLD = 32 << 20    # DEFAULT_MMAP_THRESHOLD_MAX on 64-bit: the sliding threshold's ceiling
TRIM_THRESHOLD = 64 << 20    # twice the mmap threshold, as glibc's sliding rule sets it

_applied: dict | None = None


class MallocSettingError(ZooError, ValueError):
    """ZOO_MALLOC names no mode."""


@functools.lru_cache(maxsize=1)
def glibc():
    """The process's C library if it is glibc (it has `gnu_get_libc_version` and `mallopt`), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018  (musl has a mallopt stub but not this)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return libc


def mode() -> str:
    value = os.environ.get(ENV, "").strip().lower() or MODES[0]
    if value not in MODES:
        raise MallocSettingError(f"{ENV}={os.environ[ENV]!r} is not a malloc mode; choose one of {', '.join(MODES)}")
    return value


def _let_tensorflow_patch():
    """Make a GeneratorDataset, which applies TensorFlow's once-per-process patch now."""
    import tensorflow as tf

    for _ in tf.data.Dataset.from_generator(lambda: iter(()), output_signature=tf.TensorSpec([], tf.int32)):
        pass


def tune_malloc() -> dict:
    """Apply `ZOO_MALLOC` (see the module docstring) once per process; returns what is in effect,
    for the run's provenance: {"mode", "mmap_threshold", "trim_threshold"} (thresholds None where
    the zoo left them alone)."""
    global _applied
    want = mode()
    if _applied is not None and _applied["mode"] == want:
        return dict(_applied)
    state = {"mode": want, "mmap_threshold": None, "trim_threshold": None}
    libc = glibc()
    if want == "glibc":
        if libc is None:
            state["mode"] = "unavailable"   # not glibc: nothing to undo
        else:
            _let_tensorflow_patch()
            if libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1:
                state["mmap_threshold"] = MMAP_THRESHOLD
            if libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1:
                state["trim_threshold"] = TRIM_THRESHOLD
    elif _applied is not None and _applied["mmap_threshold"] is not None and libc is not None:
        # Back to TensorFlow's setting after this process had the zoo's (a benchmark's A/B).
        libc.mallopt(M_MMAP_THRESHOLD, TENSORFLOW_THRESHOLD)
        libc.mallopt(M_TRIM_THRESHOLD, TENSORFLOW_THRESHOLD)
    _applied = state
    return dict(state)

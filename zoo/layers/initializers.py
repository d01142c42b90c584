"""Initializers that give every weight its own draw.

A Keras 3 initializer draws from its seed alone, so one initializer object returns the same values
on every call (an unseeded one too: it picks its seed once, when it is made). One object shared by
two weights makes them equal (or, for shapes that differ, makes the first elements of one a scaled
copy of the other's), and so does one integer seed passed to two initializers of one distribution.
Every weight therefore gets an initializer object of its own and, when its layer is seeded, a seed
of its own derived from the layer's seed and the weight's name (`weight_seed`).
"""
from __future__ import annotations

import hashlib

import keras


def weight_seed(seed: int | None, *path) -> int | None:
    """The seed of the weight named by `path` inside a layer seeded `seed` (None stays None: the
    initializer then picks its own seed from Python's `random`, which the trainer seeds).

    A hash rather than `seed + k`, so the seeds of a layer's weights never meet those of the layer
    seeded `seed + 1` (stacked layers are seeded seed, seed + 1, ...)."""
    if seed is None:
        return None
    digest = hashlib.blake2b(repr((int(seed), *path)).encode("utf-8"), digest_size=4).digest()
    return int.from_bytes(digest, "big") % (2 ** 31 - 1)


def uniform(scale: float, seed: int | None = None, *path):
    """U[-scale, scale] for one weight: a new initializer object with the weight's own seed."""
    return keras.initializers.RandomUniform(-scale, scale, seed=weight_seed(seed, *path))

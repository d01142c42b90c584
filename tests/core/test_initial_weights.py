"""Every weight of every registered model starts from its own draw.

Keras 3 initializers draw from their seed alone: one initializer object (or one seed) given to two
weights makes them equal, or, for shapes that differ, makes the first elements of one a scaled copy
of the other's (`kernel == recurrent_kernel[:input_dim]`). The sweep builds every registered model
at its smoke size, also seeded and with `init_scale` where its constructor takes them, and compares
the leading elements of every pair of randomly initialised weights."""
import inspect
import itertools

import numpy as np
import pytest

import zoo
from zoo.registry import model_entry

MIN_SIZE = 16   # fewer elements than this cannot tell a copy from chance


def _variants(name):
    entry = model_entry(name)
    params = inspect.signature(entry.factory).parameters
    out = [("smoke", {})]
    if "seed" in params:
        out.append(("seeded", {"seed": 3}))
    if "init_scale" in params:
        out.append(("init_scale", {"init_scale": 0.05}))
        if "seed" in params:
            out.append(("init_scale_seeded", {"init_scale": 0.05, "seed": 3}))
    return [(name, label, overrides) for label, overrides in out]


CASES = [case for name in zoo.list_models() for case in _variants(name)]


def _random_weights(model):
    """(path, flat float64 values) of every weight that is not constant-initialised."""
    out = []
    for w in model.weights:
        value = np.asarray(w.numpy())
        if not np.issubdtype(value.dtype, np.floating) or value.size < MIN_SIZE:
            continue
        flat = value.astype(np.float64).ravel()
        # zeros, ones, a unit forget bias: constants, equal by design.
        if len(np.unique(flat)) <= 2:
            continue
        out.append((w.path, flat))
    return out


def copies(weights):
    """Pairs of weights whose leading elements are (scaled) copies of each other."""
    found = []
    for (pa, a), (pb, b) in itertools.combinations(weights, 2):
        n = min(a.size, b.size)
        x, y = a[:n] - a[:n].mean(), b[:n] - b[:n].mean()
        denom = np.linalg.norm(x) * np.linalg.norm(y)
        if denom > 0 and abs(float(x @ y)) / denom > 0.999:
            found.append((pa, pb))
    return found


def test_the_check_finds_a_shared_initializer():
    import keras

    u = keras.initializers.RandomUniform(-0.05, 0.05)
    layer = keras.layers.LSTM(8, kernel_initializer=u, recurrent_initializer=u)
    layer.build((None, None, 4))
    pairs = copies(_random_weights(layer))
    assert [(a.rsplit("/", 1)[-1], b.rsplit("/", 1)[-1]) for a, b in pairs] == [("kernel", "recurrent_kernel")]


@pytest.mark.parametrize("name,label,overrides", CASES, ids=[f"{n}-{l}" for n, l, _ in CASES])
def test_every_weight_is_its_own_draw(name, label, overrides):
    entry = model_entry(name)
    model = zoo.create_model(name, build=True, **{**entry.smoke, **overrides})
    weights = _random_weights(model)
    # A counted model (n-gram tables) starts from zeros; every other has random weights to compare.
    assert weights or getattr(model, "counted", False), f"{name} has no randomly initialised weight"
    assert copies(weights) == [], f"{name} ({label}): weights start as copies of each other"

"""Model registry: one decorator per variant, `create_model(name, **overrides)`, `list_models(pattern)`.

Variants are small factory functions (timm style); the family's defaults live in its model class.
Every registered name is built, called and round-tripped through `.keras` by the test sweep.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Callable

import keras

PACKAGE = "zoo"

_MODELS: dict[str, "ModelEntry"] = {}


@dataclass(frozen=True)
class ModelEntry:
    name: str
    factory: Callable[..., keras.Model]
    family: str
    defaults: dict[str, Any] = field(default_factory=dict)
    # A small configuration the registry sweep builds on CPU in seconds; the full size stays the default.
    smoke: dict[str, Any] = field(default_factory=dict)
    # Example input for the sweep: a callable (model, batch, rng) -> model input.
    example_input: Callable[..., Any] | None = None


def serializable(cls):
    """Register a layer or model class for Keras serialization under the package name `zoo`."""
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)


def register_model(name: str, *, family: str, smoke: dict | None = None, example_input=None, **defaults):
    """Register `name` as a variant built by the decorated class or factory with `defaults`."""

    def wrap(factory):
        if name in _MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        _MODELS[name] = ModelEntry(name, factory, family, dict(defaults), dict(smoke or {}), example_input)
        return factory

    return wrap


def list_models(pattern: str = "*", family: str | None = None) -> list[str]:
    return sorted(n for n, e in _MODELS.items()
                  if fnmatch.fnmatch(n, pattern) and (family is None or e.family == family))


def model_entry(name: str) -> ModelEntry:
    try:
        return _MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; registered models: {', '.join(list_models())}") from None


def create_model(name: str, *, build: bool = False, **overrides) -> keras.Model:
    """Create the registered variant `name`; keyword overrides replace its defaults.

    `build=True` also creates the weights by calling the model once on its example input.
    """
    entry = model_entry(name)
    model = entry.factory(**{**entry.defaults, **overrides})
    if build:
        build_model(model, entry)
    return model


def build_model(model: keras.Model, entry: ModelEntry | None = None) -> keras.Model:
    """Create a model's weights: its own `build()` if it needs no shape, else one example call."""
    if model.built:
        return model
    import numpy as np

    if entry is not None and entry.example_input is not None:
        model(entry.example_input(model, 1, np.random.default_rng(0)))
    else:
        model.build()
    return model

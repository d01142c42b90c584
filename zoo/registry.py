"""Registries of the zoo: model variants, tasks and families (timm / keras-hub style).

- A **model variant** is one `register_model(name, ...)` line over a model class or factory;
  `create_model(name, **overrides)`, `list_models(pattern)`.
- A **task** is a `Task` subclass registered with `@register_task(name)`; the recipe's `task:`
  section names it and `create_task(config)` builds it.
- A **family** is one folder `zoo/models/<family>/` whose `__init__.py` calls
  `register_family(__name__, ...)` once: the paper it implements, its exporter and export
  client, its tuning space and its command-line verbs. The family key is the folder name, and
  every model and task defined in that folder belongs to it.

`import zoo` discovers every family folder, so the trainer, the exporter, the tuner and the
command line find everything here and never name a family. Every registered model and task is
swept by the tests.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import keras

PACKAGE = "zoo"
FAMILIES_PACKAGE = "zoo.models"

_MODELS: dict[str, "ModelEntry"] = {}
_TASKS: dict[str, "TaskEntry"] = {}
_FAMILIES: dict[str, "Family"] = {}


def family_of_module(module: str) -> str:
    """The family key of a module inside `zoo/models/<family>/`."""
    prefix = FAMILIES_PACKAGE + "."
    if not module.startswith(prefix):
        raise ValueError(f"{module!r} is not inside a family folder ({FAMILIES_PACKAGE}.<family>); "
                         f"pass family= explicitly")
    return module[len(prefix):].split(".", 1)[0]


# -- models ----------------------------------------------------------------------------------
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
    # The keras-tuner space of this variant when its recipe declares none (default: the family's);
    # for a family whose model classes take different arguments.
    tune_space: Mapping[str, Any] = field(default_factory=dict)


def serializable(cls):
    """Register a layer or model class for Keras serialization under the package name `zoo`.

    A layer registered so is public: it can appear in a saved model, and `public_layers` lists it."""
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)


def public_layers() -> list[type]:
    """Every layer class (models excluded) registered with `serializable`, sorted by module and
    name: what the tests run through Keras's layer harness."""
    prefix = PACKAGE + ">"
    return sorted((obj for key, obj in keras.saving.get_custom_objects().items()
                   if key.startswith(prefix) and isinstance(obj, type)
                   and issubclass(obj, keras.layers.Layer) and not issubclass(obj, keras.Model)),
                  key=lambda cls: (cls.__module__, cls.__name__))


def register_model(name: str, *, family: str | None = None, smoke: dict | None = None,
                   example_input=None, tune_space: Mapping[str, Any] | None = None, **defaults):
    """Register `name` as a variant built by the decorated class or factory with `defaults`.

    The family is the folder the factory is defined in unless `family` says otherwise."""

    def wrap(factory):
        if name in _MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        fam = family or family_of_module(factory.__module__)
        _MODELS[name] = ModelEntry(name, factory, fam, dict(defaults), dict(smoke or {}), example_input,
                                   dict(tune_space or {}))
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


def resolved_model_args(model_config) -> dict[str, Any]:
    """Every constructor argument a recipe's model gets: the factory's own defaults, then the
    variant's, then the recipe's (`zoo.config.ModelConfig`)."""
    import inspect

    entry = model_entry(model_config.name)
    params = inspect.signature(entry.factory).parameters
    args = {k: p.default for k, p in params.items() if p.default is not inspect.Parameter.empty}
    return {**args, **entry.defaults, **model_config.kwargs()}


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


# -- tasks -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskEntry:
    name: str
    cls: type
    family: str
    # A recipe (name under recipes/ or a path) small enough for the task sweep: seconds on a CPU.
    smoke_recipe: str


def register_task(name: str, *, smoke_recipe: str, family: str | None = None):
    """Class decorator: register a `zoo.training.task.Task` subclass under `name`.

    `smoke_recipe` is the recipe the task sweep trains for one step, evaluates and exports."""

    def wrap(cls):
        if name in _TASKS:
            raise ValueError(f"task {name!r} is registered twice")
        fam = family or family_of_module(cls.__module__)
        cls.name, cls.family = name, fam
        _TASKS[name] = TaskEntry(name, cls, fam, smoke_recipe)
        return cls

    return wrap


def list_tasks(pattern: str = "*", family: str | None = None) -> list[str]:
    return sorted(n for n, e in _TASKS.items()
                  if fnmatch.fnmatch(n, pattern) and (family is None or e.family == family))


def task_entry(name: str) -> TaskEntry:
    try:
        return _TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; registered tasks: {', '.join(list_tasks())}") from None


def create_task(config):
    """The task a resolved recipe (`ExperimentConfig`) names, holding that config."""
    return task_entry(config.task.name).cls(config)


# -- families --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Family:
    """What a family folder declares about itself (`register_family`).

    name: the folder name (the key in manifests, `zoo list` and model entries).
    source: the paper(s) it implements, by title and authors.
    exporter: `(model, task, selection) -> iterable of zoo.export.SavedModelSpec`; `selection`
        is the family's own choice of SavedModels (e.g. recursion depths), None for all.
    client: the export reader class (a `zoo.export.ExportClient` subclass) for its exports.
    tune_space: the keras-tuner space searched when a recipe declares none.
    commands: `(subparsers) -> None`: adds the family's own verbs to the `zoo` command line.
    default_task: the task a recipe of the family's models gets when it names none.
    legacy_names: keys earlier zoo versions wrote into manifests for this family.
    """
    name: str
    source: str = ""
    exporter: Callable | None = None
    client: type | None = None
    tune_space: Mapping[str, Any] = field(default_factory=dict)
    commands: Callable | None = None
    default_task: str | None = None
    legacy_names: tuple[str, ...] = ()


def register_family(module: str, **declaration) -> Family:
    """Declare the family of the folder whose `__init__` module is `module` (pass `__name__`)."""
    name = family_of_module(module)
    if name in _FAMILIES:
        raise ValueError(f"family {name!r} is declared twice")
    fam = Family(name=name, **declaration)
    for key in (name, *fam.legacy_names):
        other = _family_lookup().get(key)
        if other is not None:
            raise ValueError(f"family key {key!r} of {name!r} is already used by {other.name!r}")
    _FAMILIES[name] = fam
    return fam


def _family_lookup() -> dict[str, Family]:
    table = {}
    for fam in _FAMILIES.values():
        table[fam.name] = fam
        for legacy in fam.legacy_names:
            table[legacy] = fam
    return table


def families() -> list[Family]:
    return [_FAMILIES[k] for k in sorted(_FAMILIES)]


def family(name: str) -> Family:
    """A family by its key, or by a key an earlier version wrote (old manifests)."""
    try:
        return _family_lookup()[name]
    except KeyError:
        raise KeyError(f"unknown model family {name!r}; families: "
                       f"{', '.join(sorted(_FAMILIES)) or 'none'}") from None


def family_of_model(model_name: str) -> Family:
    return family(model_entry(model_name).family)


def default_tune_space(model_name: str) -> dict[str, Any]:
    """The space searched for a recipe that declares none: its variant's, else its family's."""
    entry = model_entry(model_name)
    return dict(entry.tune_space or family(entry.family).tune_space)

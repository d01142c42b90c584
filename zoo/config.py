"""Recipes: YAML experiments loaded into typed, frozen config objects (Model Garden style).

A recipe has the sections

    model:   name (a registered model) + that model's constructor arguments
    task:    name (a registered task)  + that task's options (its own typed `Options` dataclass)
    data:    corpus and batching shared by every task
    trainer, runtime, tune, eval

Every section is checked against its dataclass's real type hints: an unknown key is an error
naming it and the valid ones, a wrong type names the expected type, and a value outside the
range its hint declares (`Annotated[float, Range(gt=0)]`, or the aliases `PositiveInt`,
`Probability`, ...) names the range. Task `Options` use the same hints. Model arguments are
checked against the model constructor's type hints, or the type of its default where it has none. `base: other` inherits
another recipe, `--set section.key=value` overrides anything (parsed as YAML), and the loaded
`ExperimentConfig` is frozen; `config.with_overrides([...])` gives a changed copy. The resolved
recipe written into a run folder is always the current form.

Recipes written for earlier versions kept task knobs in `data.options` and in the generic
sections (`data.max_length`, `data.overflow`, `data.bytes_per_batch`,
`trainer.divide_shared_gradients`, `eval.mutation_steps`, `eval.length_bin`); they still load,
with one `FutureWarning` line, as task options.
"""
from __future__ import annotations

import collections.abc as cabc
import dataclasses
import inspect
import math
import os
import re
import types
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping

import yaml

from zoo.errors import ZooError
from zoo.io import atomic_write

REPO_RECIPES = Path(__file__).resolve().parent.parent / "recipes"


class RecipeError(ZooError, ValueError):
    """A recipe that cannot be used, with a message naming the offending key or file."""


# -- frozen values ---------------------------------------------------------------------------
def freeze(value):
    """Deep-immutable copy: mappings -> read-only mappings, lists -> tuples."""
    if isinstance(value, Mapping):
        return types.MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value):
    """Plain-YAML copy of a frozen value: read-only mappings -> dicts, tuples -> lists."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: thaw(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


# -- value ranges ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Range:
    """A bound on a number, declared in a type hint: `Annotated[float, Range(gt=0)]`."""
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def holds(self, value) -> bool:
        return ((self.ge is None or value >= self.ge) and (self.gt is None or value > self.gt)
                and (self.le is None or value <= self.le) and (self.lt is None or value < self.lt))

    def describe(self) -> str:
        low = (f"[{_num(self.ge)}" if self.ge is not None else f"({_num(self.gt)}" if self.gt is not None else None)
        high = (f"{_num(self.le)}]" if self.le is not None else f"{_num(self.lt)})" if self.lt is not None else None)
        if low and high:
            return f"in {low}, {high}"
        if low:
            return (">= " if low[0] == "[" else "> ") + low[1:]
        if high:
            return ("<= " if high[-1] == "]" else "< ") + high[:-1]
        return "any value"


def _num(v) -> str:
    return str(v) if isinstance(v, int) else f"{v:g}"


PositiveInt = Annotated[int, Range(ge=1)]
# Keras and NumPy take seeds below 2**32 (keras.utils.set_random_seed raises past it).
Seed = Annotated[int, Range(ge=0, le=2**32 - 1)]
NonNegativeInt = Annotated[int, Range(ge=0)]
PositiveFloat = Annotated[float, Range(gt=0)]
NonNegativeFloat = Annotated[float, Range(ge=0)]
Probability = Annotated[float, Range(ge=0, le=1)]


# -- sections --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelConfig:
    name: str
    args: Mapping[str, Any] = field(default_factory=lambda: freeze({}))

    def kwargs(self) -> dict[str, Any]:
        """The constructor arguments as plain Python values (lists, dicts)."""
        return thaw(self.args)


@dataclass(frozen=True)
class TaskConfig:
    name: str
    options: Any = None   # an instance of the task's own frozen `Options` dataclass


@dataclass(frozen=True)
class DataConfig:
    corpus: str = "english"            # a corpus name (see `zoo corpora`) or a path/glob/.jsonl/.tsv
    field: str | None = None           # .jsonl field holding the text
    test_fraction: Probability = 0.1         # share of items in the hash-based test split
    batch_size: PositiveInt = 32               # global batch size (all replicas together)
    max_paragraphs: PositiveInt | None = None  # cap on training items (quick runs)
    max_test_paragraphs: PositiveInt | None = 2000
    seed: Seed = 0


@dataclass(frozen=True)
class TrainerConfig:
    # Any optimizer `keras.optimizers.get` knows (sgd, adam, adamw, rmsprop, ...), built with the
    # shared settings below; what only that optimizer takes (adam's beta_1, beta_2, epsilon) goes
    # into optimizer_args, checked against its constructor (zoo.training.optimizers says why).
    optimizer: str = "sgd"
    optimizer_args: Mapping[str, Any] = field(default_factory=lambda: freeze({}))
    learning_rate: PositiveFloat = 0.001
    momentum: Probability = 0.9
    weight_decay: NonNegativeFloat = 1e-5
    # step: multiply by lr_decay_factor every lr_decay_every_epochs (the first time after
    # lr_decay_start_epochs, default one period); cosine: half a cosine from learning_rate to 0
    # over the run's steps (after lr_warmup_steps of linear warm-up); plateau: multiply by
    # lr_decay_factor after every periodic evaluation that does not improve the task's objective
    lr_schedule: Literal["step", "cosine", "plateau"] = "step"
    lr_decay_factor: PositiveFloat = 0.5       # multiply the learning rate by this ...
    lr_decay_every_epochs: PositiveFloat = 10.0  # ... every this many epochs
    lr_decay_start_epochs: NonNegativeFloat | None = None
    lr_warmup_steps: NonNegativeInt = 0
    epochs: PositiveFloat = 100.0
    steps_per_epoch: PositiveInt | None = None  # None: one pass over the training split
    max_steps: PositiveInt | None = None        # hard cap on optimizer steps
    max_minutes: PositiveFloat | None = None    # wall-clock budget; stops cleanly with a checkpoint
    clipnorm: PositiveFloat | None = None
    log_every_steps: PositiveInt = 50
    eval_every_steps: PositiveInt = 500
    checkpoint_every_steps: PositiveInt = 200
    keep_checkpoints: PositiveInt = 3
    average_checkpoints: PositiveInt = 1     # final model = mean of the last N saved checkpoints' weights
    text_samples: NonNegativeInt = 3
    seed: Seed = 0

    def __post_init__(self):
        check_optimizer(self.optimizer, self.optimizer_args)


@dataclass(frozen=True)
class RuntimeConfig:
    # auto: multi_worker if TF_CONFIG has several workers, else mirrored
    strategy: Literal["auto", "mirrored", "multi_worker", "one_device"] = "auto"
    logical_cpus: PositiveInt | None = None    # split the CPU into this many logical devices (replicas)
    jit_compile: bool = False          # XLA for the train step
    deterministic: bool = False        # tf.config.experimental.enable_op_determinism()
    run_dir: str = "runs/{name}"
    progress: bool = True


@dataclass(frozen=True)
class TuneConfig:
    space: Mapping[str, Any] = field(default_factory=lambda: freeze({}))  # "model.n": {choice: [2, 4]}
    max_trials: PositiveInt = 4
    objective: str = ""                # default: the task's objective
    goal: Literal["", "min", "max"] = ""   # default: the objective metric's own (Metric.goal)
    algorithm: Literal["random", "bayesian", "hyperband"] = "random"
    steps_per_trial: PositiveInt = 100
    directory: str = "runs/{name}-tune"


@dataclass(frozen=True)
class EvalConfig:
    samples: PositiveInt = 1000                # items per split for a task's analyses (`zoo eval`)


@dataclass(frozen=True)
class ExperimentConfig:
    name: str
    model: ModelConfig
    task: TaskConfig
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    @property
    def run_dir(self) -> Path:
        return Path(self.runtime.run_dir.format(name=self.name))

    def to_dict(self) -> dict:
        """The recipe as plain YAML data, in the current form."""
        out: dict[str, Any] = {"name": self.name, "description": self.description,
                               "model": {"name": self.model.name, **thaw(self.model.args)},
                               "task": {"name": self.task.name, **thaw(self.task.options)}}
        for sect in ("data", "trainer", "runtime", "tune", "eval"):
            out[sect] = thaw(getattr(self, sect))
        return out

    def with_overrides(self, overrides: list[str]) -> "ExperimentConfig":
        """A new config: this one with `section.key=value` overrides applied."""
        return load_recipe(self.to_dict(), list(overrides))

    def hparams(self) -> dict[str, Any]:
        """Flat scalar hyperparameters for TensorBoard's hparams dashboard."""
        flat = {}
        for sect, values in self.to_dict().items():
            if isinstance(values, dict) and sect in ("model", "task", "data", "trainer"):
                for k, v in values.items():
                    if isinstance(v, (bool, int, float, str)):
                        flat[f"{sect}.{k}"] = v
        return flat


# Optimizer arguments that are typed trainer settings: given there, not in optimizer_args.
SHARED_OPTIMIZER_SETTINGS = ("learning_rate", "weight_decay", "clipnorm")


def keras_optimizer_class(name: str) -> type:
    """The Keras optimizer class `keras.optimizers.get(name)` builds; ValueError if none."""
    import keras

    try:
        return type(keras.optimizers.get(name))
    except (ValueError, TypeError):
        known = sorted(n.lower() for n, c in vars(keras.optimizers).items()
                       if isinstance(c, type) and issubclass(c, keras.optimizers.Optimizer)
                       and c is not keras.optimizers.Optimizer and n != "LossScaleOptimizer")
        raise ValueError(f"unknown trainer.optimizer {name!r}; Keras knows {', '.join(known)}") from None


def check_optimizer(name: str, args: Mapping[str, Any]) -> None:
    """ValueError naming an optimizer Keras does not know or an argument it does not take."""
    if name in ("sgd", "adam") and not args:
        return   # the common case, without importing Keras
    cls = keras_optimizer_class(name)
    shared = {*SHARED_OPTIMIZER_SETTINGS, "momentum"} if cls.__name__ == "SGD" else set(SHARED_OPTIMIZER_SETTINGS)
    for key in args:
        if key in shared:
            raise ValueError(f"trainer.optimizer_args.{key}: set trainer.{key} instead")
    params = inspect.signature(cls.__init__).parameters
    takes = sorted(p for p, v in params.items()
                   if p not in ("self", "name", *shared) and v.kind is v.POSITIONAL_OR_KEYWORD)
    for key in args:
        if key not in takes:
            raise ValueError(f"trainer.optimizer_args.{key}: {name} takes no argument {key!r}; "
                             f"it takes {', '.join(takes)}")


_SECTIONS = {"data": DataConfig, "trainer": TrainerConfig, "runtime": RuntimeConfig,
             "tune": TuneConfig, "eval": EvalConfig}
TOP_LEVEL = ("name", "description", "model", "task", *_SECTIONS)

# Keys earlier versions kept in generic sections; they are options of the tasks that use them.
_LEGACY_TASK_KEYS = {("data", "max_length"): "max_length", ("data", "overflow"): "overflow",
                     ("data", "bytes_per_batch"): "bytes_per_batch",
                     ("trainer", "divide_shared_gradients"): "divide_shared_gradients",
                     ("eval", "mutation_steps"): "mutation_steps", ("eval", "length_bin"): "length_bin"}
# Keys earlier versions wrote into resolved recipes that no longer do anything.
_REMOVED_KEYS = (("trainer", "eval_batches"),)


# -- type checking ---------------------------------------------------------------------------
def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is Annotated:
        base, *extras = typing.get_args(tp)
        ranges = [e for e in extras if isinstance(e, Range)]
        if base is int and ranges == [Range(ge=1)]:
            return "a positive integer"
        return " ".join([_type_name(base), *(r.describe() for r in ranges)])
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (list, tuple, cabc.Sequence) or tp in (list, tuple):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        plural = {bool: "booleans", int: "integers", float: "numbers", str: "strings"}
        return "a list" + (f" of {plural[args[0]]}" if args and args[0] in plural else "")
    if origin in (dict, cabc.Mapping) or tp in (dict, cabc.Mapping):
        return "a mapping"
    if origin in (typing.Union, types.UnionType):
        arms = [a for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(_type_name(a) for a in arms) + (" or null" if len(arms) < len(typing.get_args(tp)) else "")
    return getattr(tp, "__name__", str(tp))


def check_value(where: str, value: Any, tp) -> Any:
    """`value` checked against type hint `tp` (and frozen); RecipeError naming `where` if not."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return freeze(value)
    if origin is Annotated:
        base, *extras = typing.get_args(tp)
        value = check_value(where, value, base)
        for extra in extras:
            if isinstance(extra, Range) and not extra.holds(value):
                raise RecipeError(f"{where} must be {_type_name(tp)}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        arms = typing.get_args(tp)
        if value is None:
            if type(None) in arms:
                return None
            raise RecipeError(f"{where} may not be null")
        for arm in arms:
            if arm is type(None):
                continue
            try:
                return check_value(where, value, arm)
            except RecipeError:
                pass
        raise RecipeError(f"{where} must be {_type_name(tp)}, got {value!r}")
    if value is None:
        raise RecipeError(f"{where} may not be null")
    bad = RecipeError(f"{where} must be {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        if not any(value == a and type(value) is type(a) for a in typing.get_args(tp)):
            raise bad
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad
        return value
    if origin in (list, tuple, cabc.Sequence) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise bad
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        item = args[0] if args else Any
        return tuple(check_value(f"{where}[{i}]", v, item) for i, v in enumerate(value))
    if origin in (dict, cabc.Mapping) or tp in (dict, cabc.Mapping):
        if not isinstance(value, cabc.Mapping):
            raise bad
        return freeze(value)
    raise TypeError(f"unsupported recipe type {tp!r} for {where!r}")


def build_section(where: str, cls, values: Mapping, extra_keys: tuple[str, ...] = ()):
    """A frozen dataclass `cls` from a recipe mapping, every key checked against its type hints."""
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise RecipeError(f"recipe section {where!r} must be a mapping")
    hints = typing.get_type_hints(cls, include_extras=True)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in values.items():
        if key in extra_keys:
            continue
        if key not in names:
            raise RecipeError(f"unknown recipe key '{where}.{key}'; valid keys in '{where}': "
                              f"{', '.join(sorted([*names, *extra_keys]))}")
        kwargs[key] = check_value(f"{where}.{key}", value, hints[key])
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise RecipeError(f"recipe section {where!r}: {e}") from None


# -- model and task sections -----------------------------------------------------------------
def _model_section(values) -> ModelConfig:
    from zoo.registry import model_entry

    if not isinstance(values, Mapping):
        raise RecipeError("recipe section 'model' must be a mapping")
    values = dict(values)
    if "name" not in values:
        raise RecipeError("recipe key 'model.name' is missing: name a registered model (zoo list)")
    name = values.pop("name")
    try:
        entry = model_entry(name)
    except KeyError as e:
        raise RecipeError(f"recipe key 'model.name': {e.args[0]}") from None
    params = inspect.signature(entry.factory).parameters
    accepts_any = any(p.kind == p.VAR_KEYWORD for p in params.values()) and not hasattr(entry.factory, "get_config")
    allowed = {k for k, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)} - {"self"}
    types_ = _model_arg_types(entry)
    for key, value in values.items():
        if key not in allowed and not accepts_any:
            raise RecipeError(f"unknown recipe key 'model.{key}' for model {name!r}; valid keys: "
                              f"{', '.join(sorted(allowed | {'name'}))}")
        if key in types_:
            try:
                check_value(f"model.{key}", value, types_[key])
            except TypeError:  # a hint recipes cannot express (a layer, a callable): the model checks it
                pass
    return ModelConfig(name=name, args=freeze(values))


def _model_arg_types(entry) -> dict[str, Any]:
    """The type each constructor argument of a registered model takes: its type hint, else the
    type of its default (the variant's, then the signature's), or null as well where the
    constructor's own default is None (a variant's `init_scale: 0.05` over `init_scale=None`:
    `--set model.init_scale=null` starts the weights as Keras does); arguments defaulting to None
    everywhere are left to the model."""
    factory = entry.factory
    target = factory.__init__ if isinstance(factory, type) else factory
    try:
        hints = typing.get_type_hints(target, include_extras=True)
    except Exception:  # hints naming something not importable here: fall back to the defaults
        hints = {}
    out: dict[str, Any] = {}
    for key, param in inspect.signature(factory).parameters.items():
        if param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        if key in hints:
            out[key] = hints[key]
            continue
        default = entry.defaults.get(key, param.default)
        if default is inspect.Parameter.empty or default is None:
            continue
        for tp in (bool, int, float, str):  # bool first: True is an int too
            if type(default) is tp:
                out[key] = tp | None if param.default is None else tp
                break
        else:
            if isinstance(default, (list, tuple)):
                # A list, or its text form ("3-7-15-31": keras-tuner choices must be scalars).
                kinds = {type(v) for v in default}
                item = kinds.pop() if len(kinds) == 1 and kinds <= {bool, int, float, str} else Any
                out[key] = tuple[item, ...] | str
    return out


def _task_section(values, model: ModelConfig) -> TaskConfig:
    from zoo.registry import family_of_model, list_tasks, task_entry

    values = dict(values or {})
    fam = family_of_model(model.name)
    name = values.pop("name", None) or fam.default_task
    if name is None:
        raise RecipeError(f"recipe key 'task.name' is missing; tasks of family {fam.name!r}: "
                          f"{', '.join(list_tasks(family=fam.name))}")
    try:
        entry = task_entry(name)
    except KeyError as e:
        raise RecipeError(f"recipe key 'task.name': {e.args[0]}") from None
    options = build_section("task", entry.cls.Options, values, extra_keys=("name",))
    return TaskConfig(name=name, options=options)


def _upgrade(raw: dict) -> tuple[dict, list[str]]:
    """Move the task knobs of earlier versions' recipes into `task:`; returns (raw, moved keys)."""
    from zoo.registry import family_of_model, task_entry

    moved, values = [], {}
    data = raw.get("data")
    if isinstance(data, dict) and "options" in data:
        options = data.pop("options")
        if options is not None and not isinstance(options, dict):
            raise RecipeError("recipe key 'data.options' must be a mapping (it is now the 'task' section)")
        values.update(options or {})
        moved.append("data.options")
    for sect, key in _REMOVED_KEYS:
        section = raw.get(sect)
        if isinstance(section, dict) and key in section:
            section.pop(key)
            moved.append(f"{sect}.{key} (removed)")
    generic = set()
    for (sect, key), option in _LEGACY_TASK_KEYS.items():
        section = raw.get(sect)
        if isinstance(section, dict) and key in section:
            values[option] = section.pop(key)
            generic.add(option)
            moved.append(f"{sect}.{key}")
    if not moved:
        return raw, []
    task = dict(raw.get("task") or {})
    chosen = values.pop("task", None)  # data.options.task picked the problem
    if chosen is not None and task.get("name", chosen) != chosen:
        raise RecipeError(f"recipe names task {task['name']!r} but data.options.task says {chosen!r}")
    model = raw.get("model") or {}
    if "name" not in task:
        if chosen is None:
            try:
                chosen = family_of_model(model.get("name", "")).default_task
            except KeyError:
                chosen = None
        if chosen is None:
            raise RecipeError("recipe key 'task.name' is missing (recipes now name their task)")
        task["name"] = chosen
    try:
        fields = {f.name for f in dataclasses.fields(task_entry(task["name"]).cls.Options)}
    except KeyError as e:
        raise RecipeError(f"recipe key 'task.name': {e.args[0]}") from None
    for option, value in values.items():
        # A generic-section key the task has no option for never applied to it: drop it.
        if option in fields or option not in generic:
            task[option] = value
    raw["task"] = task
    return raw, moved


def from_dict(raw: dict, where: str = "recipe") -> ExperimentConfig:
    if not isinstance(raw, dict):
        raise RecipeError("a recipe must be a YAML mapping")
    unknown = [k for k in raw if k not in TOP_LEVEL]
    if unknown:
        raise RecipeError(f"unknown recipe key {unknown[0]!r}; valid top-level keys: "
                          f"{', '.join(TOP_LEVEL)}")
    if "model" not in raw:
        raise RecipeError(f"{where}: section 'model' is missing: name a registered model (zoo list)")
    raw, moved = _upgrade(yaml.safe_load(yaml.safe_dump(raw)))
    model = _model_section(raw["model"] or {})
    kwargs: dict[str, Any] = {"model": model, "task": _task_section(raw.get("task"), model)}
    for key in ("name", "description"):
        if key in raw:
            kwargs[key] = check_value(key, raw[key], str)
    kwargs.setdefault("name", "experiment")
    for key, cls in _SECTIONS.items():
        if key in raw:
            kwargs[key] = build_section(key, cls, raw[key] or {})
    if moved:
        warnings.warn(f"{where} is in the old form ({', '.join(moved)}): read as options of task "
                      f"{kwargs['task'].name!r}; `zoo recipe` prints it in the new form",
                      FutureWarning, stacklevel=3)
    return ExperimentConfig(**kwargs)


# -- files, bases, overrides -----------------------------------------------------------------
def resolve_recipe_path(recipe: str | os.PathLike) -> Path:
    """A recipe is a path to a YAML file, a run directory, or a name `<family>/<recipe>` under recipes/."""
    p = Path(recipe)
    if p.is_file():
        return p
    if p.is_dir() and (p / "recipe.yaml").is_file():   # a run directory (before a shipped name)
        return p / "recipe.yaml"
    for cand in (REPO_RECIPES / f"{recipe}.yaml", REPO_RECIPES / str(recipe)):
        if cand.is_file():
            return cand
    raise RecipeError(f"recipe not found: {str(recipe)!r} (give a YAML path or a name under {REPO_RECIPES})")


class _OverrideLoader(yaml.SafeLoader):
    """YAML for `--set` values, reading `1e-3`, `1.0e3` and `-2E+5` as numbers too: YAML 1.1
    (PyYAML) wants a dot and a signed exponent (`1.0e-3`) and reads the rest as strings, which
    a number's key then refuses. An integral one (`1e3`) reads as an int, so integer keys take it."""


def _exponent_number(loader, node):
    value = float(loader.construct_scalar(node))
    if not math.isfinite(value):  # 1e999: left as text, which a number's key refuses by name
        return loader.construct_scalar(node)
    return int(value) if value.is_integer() else value


_OverrideLoader.add_constructor("tag:zoo,2026:exponent-number", _exponent_number)
_OverrideLoader.add_implicit_resolver(
    "tag:zoo,2026:exponent-number", re.compile(r"^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def override(key: str, value: Any) -> str:
    """The override `key=value` that sets `value` exactly: a path or text a user typed (an emoji,
    a lone surrogate of an undecodable file name, quotes, `yes`, `null`) comes back as itself."""
    text = yaml.safe_dump(value, default_style='"', allow_unicode=True, width=float("inf"))
    return f"{key}={text.rstrip()}"


def literal_run_dir(path: str | os.PathLike) -> str:
    """`runtime.run_dir` naming exactly `path` (its braces are not the `{name}` template)."""
    return str(path).replace("{", "{{").replace("}", "}}")


def parse_overrides(overrides: list[str] | None) -> list[tuple[list[str], Any]]:
    parsed = []
    for item in overrides or []:
        if "=" not in item:
            raise RecipeError(f"override {item!r} must look like section.key=value")
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        if not all(parts):
            raise RecipeError(f"override {item!r} has an empty key")
        try:
            parsed.append((parts, yaml.load(value, Loader=_OverrideLoader) if value != "" else None))
        except yaml.YAMLError as e:
            raise RecipeError(f"override {item!r}: the value is not valid YAML ({e})") from None
    return parsed


def apply_overrides(raw: dict, overrides: list[str] | None) -> dict:
    raw = yaml.safe_load(yaml.safe_dump(raw))  # deep copy
    for parts, value in parse_overrides(overrides):
        node = raw
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise RecipeError(f"override {'.'.join(parts)}: {p!r} is not a section")
        node[parts[-1]] = value
    return raw


def _merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for k, v in top.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _different_model(base: dict | None, top: dict | None) -> bool:
    from zoo.registry import model_entry

    if not base or not top or "name" not in top or "name" not in base:
        return False
    try:
        return model_entry(base["name"]).factory is not model_entry(top["name"]).factory
    except KeyError:
        return True


def read_recipe(recipe: str | os.PathLike, _seen=()) -> dict:
    """The raw mapping of a recipe file, with `base: other/recipe` merged underneath it."""
    path = resolve_recipe_path(recipe)
    if path.resolve() in _seen:
        raise RecipeError(f"recipe {str(path)!r} includes itself through 'base'")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise RecipeError(f"recipe {str(path)!r} is not UTF-8 text (byte {e.start} cannot be decoded): "
                          f"a recipe is a YAML file") from None
    except yaml.YAMLError as e:
        raise RecipeError(f"recipe {str(path)!r} is not valid YAML: {e}") from None
    if raw is None:
        raise RecipeError(f"recipe {str(path)!r} is empty: a recipe names at least its model "
                          f"(model: {{name: ...}}, see zoo list)")
    if not isinstance(raw, dict):
        raise RecipeError(f"recipe {str(path)!r} must be a YAML mapping")
    base = raw.pop("base", None)
    if base is not None:
        if not isinstance(base, str):
            raise RecipeError(f"recipe key 'base' in {str(path)!r} must name another recipe")
        # A base is found next to the recipe first, then under recipes/.
        sibling = path.parent / f"{base}.yaml"
        parent = read_recipe(sibling if sibling.is_file() else base, _seen + (path.resolve(),))
        parent.pop("name", None)
        parent.pop("description", None)
        if _different_model(parent.get("model"), raw.get("model")):
            parent.pop("model")  # another architecture: the base's model arguments don't apply
        if (isinstance(parent.get("task"), dict) and isinstance(raw.get("task"), dict)
                and raw["task"].get("name", parent["task"].get("name")) != parent["task"].get("name")):
            parent.pop("task")  # another task: the base's task options don't apply
        raw = _merge(parent, raw)
    raw.setdefault("name", path.stem if path.name != "recipe.yaml" else path.parent.name)
    return raw


def load_recipe(recipe: str | os.PathLike | dict, overrides: list[str] | None = None) -> ExperimentConfig:
    where = "recipe" if isinstance(recipe, dict) else f"recipe {str(recipe)!r}"
    raw = recipe if isinstance(recipe, dict) else read_recipe(recipe)
    return from_dict(apply_overrides(raw, overrides), where)


def recipe_yaml(config: ExperimentConfig) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True)


def save_recipe(config: ExperimentConfig, path: Path) -> None:
    atomic_write(path, recipe_yaml(config))

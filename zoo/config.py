"""Recipes: YAML experiments loaded into typed, validated config objects (Model Garden style).

A recipe has the sections `model`, `data`, `trainer`, `runtime` and optionally `tune`, `eval`.
`model` holds `name` (a registered model) plus constructor arguments of that model; every other
section is a dataclass, so an unknown key anywhere is an error that names it. `--set a.b=c`
overrides any value (parsed as YAML), and the resolved recipe is written into the run directory.
"""
from __future__ import annotations

import dataclasses
import inspect
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_RECIPES = Path(__file__).resolve().parent.parent / "recipes"


class RecipeError(ValueError):
    """A recipe that cannot be used, with a message naming the offending key or file."""


@dataclass
class ModelConfig:
    name: str = "byte_rcae_n8"
    args: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclass
class DataConfig:
    corpus: str = "english"            # a corpus name (see `zoo corpora`) or a path/glob/.jsonl
    field: str | None = None           # .jsonl field holding the text
    test_fraction: float = 0.1         # share of paragraphs in the hash-based test split
    max_length: int = 1024             # padded length limit (bytes + EOS)
    overflow: str = "split"            # over-long paragraph: "split" at a boundary or "reject"
    batch_size: int = 32               # global batch size (all replicas together)
    bytes_per_batch: int | None = None  # if set, per-bucket batch = bytes_per_batch // length
    max_paragraphs: int | None = None  # cap on training paragraphs (quick runs)
    max_test_paragraphs: int | None = 2000
    seed: int = 0
    # Family-specific data options (e.g. target languages for translation, task lengths).
    options: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclass
class TrainerConfig:
    optimizer: str = "sgd"             # sgd | adam
    learning_rate: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 1e-5
    lr_decay_factor: float = 0.5       # multiply the learning rate by this ...
    lr_decay_every_epochs: float = 10  # ... every this many epochs (paper: halve every 10)
    epochs: float = 100
    steps_per_epoch: int | None = None  # None: one pass over the training split
    max_steps: int | None = None        # hard cap on optimizer steps
    max_minutes: float | None = None    # wall-clock budget; stops cleanly with a checkpoint
    divide_shared_gradients: bool = True  # paper §3.2: divide a shared group's grad by its uses
    clipnorm: float | None = None
    log_every_steps: int = 50
    eval_every_steps: int = 500
    eval_batches: int = 20
    checkpoint_every_steps: int = 200
    keep_checkpoints: int = 3
    average_checkpoints: int = 1     # final model = mean of the last N saved checkpoints' weights
    text_samples: int = 3
    seed: int = 0


@dataclass
class RuntimeConfig:
    strategy: str = "auto"             # auto (multi_worker if TF_CONFIG has workers, else mirrored) | mirrored | multi_worker | one_device
    logical_cpus: int | None = None    # split the CPU into this many logical devices (replicas)
    jit_compile: bool = False          # XLA for the static-length train step
    deterministic: bool = False        # tf.config.experimental.enable_op_determinism()
    run_dir: str = "runs/{name}"
    progress: bool = True


@dataclass
class TuneConfig:
    space: dict[str, Any] = dataclasses.field(default_factory=dict)  # "model.n": {choice: [2, 4]} ...
    max_trials: int = 4
    objective: str = ""                # default: the family task's objective (byte_error)
    algorithm: str = "random"          # random | bayesian | hyperband
    steps_per_trial: int = 100
    directory: str = "runs/{name}-tune"


@dataclass
class EvalConfig:
    samples: int = 1000                # paragraphs per split for the analyses
    mutation_steps: int = 11           # p = 0, 0.1, ..., 1
    length_bin: int = 64


@dataclass
class ExperimentConfig:
    name: str = "experiment"
    description: str = ""
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)
    runtime: RuntimeConfig = dataclasses.field(default_factory=RuntimeConfig)
    tune: TuneConfig = dataclasses.field(default_factory=TuneConfig)
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)

    @property
    def run_dir(self) -> Path:
        return Path(self.runtime.run_dir.format(name=self.name))

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        model = d.pop("model")
        d["model"] = {"name": model["name"], **model["args"]}
        return d

    def hparams(self) -> dict[str, Any]:
        """Flat scalar hyperparameters for TensorBoard's hparams dashboard."""
        flat = {}
        for sect, values in self.to_dict().items():
            if isinstance(values, dict) and sect in ("model", "data", "trainer"):
                for k, v in values.items():
                    if isinstance(v, (bool, int, float, str)):
                        flat[f"{sect}.{k}"] = v
        return flat


_SECTIONS = {"model": ModelConfig, "data": DataConfig, "trainer": TrainerConfig,
             "runtime": RuntimeConfig, "tune": TuneConfig, "eval": EvalConfig}


def _coerce(where: str, value: Any, annotation: str):
    """Check a YAML value against a dataclass field's annotation (string form)."""
    ann = annotation.replace(" ", "")
    if value is None:
        if "None" in ann:
            return None
        raise RecipeError(f"recipe key {where!r} may not be null")
    if ann.startswith("bool"):
        if not isinstance(value, bool):
            raise RecipeError(f"recipe key {where!r} must be true or false, got {value!r}")
        return value
    if ann.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecipeError(f"recipe key {where!r} must be an integer, got {value!r}")
        return value
    if ann.startswith("float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RecipeError(f"recipe key {where!r} must be a number, got {value!r}")
        return float(value)
    if ann.startswith("str"):
        if not isinstance(value, str):
            raise RecipeError(f"recipe key {where!r} must be a string, got {value!r}")
        return value
    if ann.startswith("dict") and not isinstance(value, dict):
        raise RecipeError(f"recipe key {where!r} must be a mapping, got {value!r}")
    return value


def _section(name: str, cls, values: dict) -> Any:
    if not isinstance(values, dict):
        raise RecipeError(f"recipe section {name!r} must be a mapping")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            raise RecipeError(f"unknown recipe key '{name}.{key}'; valid keys in '{name}': "
                              f"{', '.join(sorted(fields))}")
        kwargs[key] = _coerce(f"{name}.{key}", value, str(fields[key].type))
    return cls(**kwargs)


def _model_section(values: dict) -> ModelConfig:
    from zoo.registry import model_entry  # registry is filled by `import zoo`

    if not isinstance(values, dict):
        raise RecipeError("recipe section 'model' must be a mapping")
    values = dict(values)
    name = values.pop("name", ModelConfig.name)
    try:
        entry = model_entry(name)
    except KeyError as e:
        raise RecipeError(f"recipe key 'model.name': {e.args[0]}") from None
    params = inspect.signature(entry.factory).parameters
    accepts_any = any(p.kind == p.VAR_KEYWORD for p in params.values()) and not hasattr(entry.factory, "get_config")
    allowed = {k for k, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)} - {"self"}
    for key in values:
        if key not in allowed and not accepts_any:
            raise RecipeError(f"unknown recipe key 'model.{key}' for model {name!r}; valid keys: "
                              f"{', '.join(sorted(allowed | {'name'}))}")
    return ModelConfig(name=name, args=values)


def from_dict(raw: dict) -> ExperimentConfig:
    if not isinstance(raw, dict):
        raise RecipeError("a recipe must be a YAML mapping")
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key in ("name", "description"):
            kwargs[key] = _coerce(key, value, "str")
        elif key == "model":
            kwargs["model"] = _model_section(value or {})
        elif key in _SECTIONS:
            kwargs[key] = _section(key, _SECTIONS[key], value or {})
        else:
            raise RecipeError(f"unknown recipe key {key!r}; valid top-level keys: "
                              f"{', '.join(['name', 'description', *_SECTIONS])}")
    return ExperimentConfig(**kwargs)


def resolve_recipe_path(recipe: str | os.PathLike) -> Path:
    """A recipe is a path to a YAML file or a name like `byte_rcae/default` under recipes/."""
    p = Path(recipe)
    if p.is_file():
        return p
    for cand in (REPO_RECIPES / f"{recipe}.yaml", REPO_RECIPES / str(recipe)):
        if cand.is_file():
            return cand
    if p.is_dir() and (p / "recipe.yaml").is_file():   # a run directory
        return p / "recipe.yaml"
    raise RecipeError(f"recipe not found: {str(recipe)!r} (give a YAML path or a name under {REPO_RECIPES})")


def parse_overrides(overrides: list[str] | None) -> list[tuple[list[str], Any]]:
    parsed = []
    for item in overrides or []:
        if "=" not in item:
            raise RecipeError(f"override {item!r} must look like section.key=value")
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        if not all(parts):
            raise RecipeError(f"override {item!r} has an empty key")
        parsed.append((parts, yaml.safe_load(value) if value != "" else None))
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
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise RecipeError(f"recipe {str(path)!r} is not valid YAML: {e}") from None
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
        raw = _merge(parent, raw)
    raw.setdefault("name", path.stem if path.name != "recipe.yaml" else path.parent.name)
    return raw


def load_recipe(recipe: str | os.PathLike | dict, overrides: list[str] | None = None) -> ExperimentConfig:
    raw = recipe if isinstance(recipe, dict) else read_recipe(recipe)
    return from_dict(apply_overrides(raw, overrides))


def atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def save_recipe(config: ExperimentConfig, path: Path) -> None:
    atomic_write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True))

"""Export a trained model for serving: `model.keras`, SavedModels, and a `manifest.json`.

    <out>/model.keras      the Keras model (`import zoo` then `keras.models.load_model`)
    <out>/<spec.name>/     one SavedModel per endpoint set a family hook asks for (for the byte
                           autoencoder of seed 000 §2: one per recursion depth, `depth_{d}/`)
    <out>/manifest.json    model name, family, versions, the resolved recipe, and per SavedModel
                           its path, signatures (input/output names, dtypes, shapes) and the
                           hook's own fields

The core knows no family: a hook registered with `register_family_exporter(family)` turns
(model, config, depths) into `SavedModelSpec`s. SavedModels need no zoo code to load: their
functions are traced graphs over plain tf.Variables.

The export is atomic: everything is written into a temporary sibling directory which then
replaces `out_dir` by two renames, so a failure midway leaves any previous export untouched.
"""
from __future__ import annotations

import datetime
import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import keras
import tensorflow as tf

from zoo.config import ExperimentConfig, load_recipe
from zoo.registry import build_model, model_entry
from zoo.training.run import load_run, require_run_dir

MANIFEST = "manifest.json"
KERAS_FILE = "model.keras"
FORMAT = "zoo-export"
FORMAT_VERSION = 1


class ExportError(ValueError):
    """An export that cannot be written or used, with a message naming the problem."""


@dataclass
class SavedModelSpec:
    """One SavedModel of an export, as produced by a family hook.

    name: its subdirectory under the export (a plain relative path, e.g. "depth_3").
    module: the tf.Module to save; it must track the variables its functions read.
    signatures: serving signature name -> tf.function with an input_signature (or a concrete
        function). Every input TensorSpec must carry a name: it is the signature's input key.
    info: extra manifest fields for this SavedModel (e.g. {"depth": 3, "length": 32}).
    """
    name: str
    module: tf.Module
    signatures: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)


FamilyExporter = Callable[[keras.Model, ExperimentConfig, "list[int] | None"], Iterable[SavedModelSpec]]
_FAMILY_EXPORTERS: dict[str, FamilyExporter] = {}


def register_family_exporter(family: str):
    """Register `fn(model, config, depths) -> iterable of SavedModelSpec` for a model family.

    A generator hook is consumed one spec at a time, so only one SavedModel's traces are alive
    at once; an exception from it aborts the whole export.
    """

    def wrap(fn: FamilyExporter) -> FamilyExporter:
        if family in _FAMILY_EXPORTERS:
            raise ValueError(f"an exporter for family {family!r} is registered twice")
        _FAMILY_EXPORTERS[family] = fn
        return fn

    return wrap


def registered_families() -> list[str]:
    return sorted(_FAMILY_EXPORTERS)


def family_exporter(family: str) -> FamilyExporter:
    try:
        return _FAMILY_EXPORTERS[family]
    except KeyError:
        raise ExportError(f"no exporter is registered for model family {family!r}; families with "
                          f"an exporter: {', '.join(registered_families()) or 'none'}") from None


# -- manifest --------------------------------------------------------------------------------
def _spec_json(dtype: tf.DType, shape: tf.TensorShape) -> dict:
    return {"dtype": dtype.name, "shape": None if shape.rank is None else shape.as_list()}


def describe_signature(name: str, fn) -> dict:
    """{"inputs": {key: {dtype, shape}}, "outputs": {...}} of a serving function (None = any)."""
    if not isinstance(fn, tf.types.experimental.ConcreteFunction):
        fn = fn.get_concrete_function()
    inputs = {}
    for i, spec in enumerate(tf.nest.flatten(fn.structured_input_signature)):
        if not spec.name:
            raise ExportError(f"signature {name!r}: input #{i} has no name; give its TensorSpec "
                              f"a name (it becomes the signature's input key)")
        inputs[spec.name] = _spec_json(spec.dtype, spec.shape)
    outputs = fn.structured_outputs
    if not isinstance(outputs, dict):  # TF names a lone output tensor output_0
        outputs = {"output_0": outputs}
    return {"inputs": inputs,
            "outputs": {k: _spec_json(t.dtype, t.shape) for k, t in outputs.items()}}


def read_manifest(export_dir) -> dict:
    """The manifest of an export directory; ExportError if the directory is not an export."""
    d = Path(export_dir)
    if not d.exists():
        raise ExportError(f"export directory does not exist: {str(d)!r}")
    if not (d / MANIFEST).is_file():
        raise ExportError(f"{str(d)!r} is not a zoo export (no {MANIFEST}); write one with "
                          f"zoo.export.export_run(run_dir, out_dir)")
    try:
        manifest = json.loads((d / MANIFEST).read_text())
    except (OSError, ValueError) as e:
        raise ExportError(f"{str(d / MANIFEST)!r} is unreadable: {e}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ExportError(f"{str(d / MANIFEST)!r} is not a zoo export manifest")
    return manifest


# -- atomic directory replacement ------------------------------------------------------------
def _check_replaceable(out_dir: Path) -> None:
    """Only an earlier export (or nothing, or an empty folder) may be replaced: never delete a
    folder of someone's files because it was given as the output by mistake."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise ExportError(f"export destination {str(out_dir)!r} exists and is not a directory")
    if any(out_dir.iterdir()):
        try:
            read_manifest(out_dir)
        except ExportError:
            raise ExportError(f"refusing to replace {str(out_dir)!r}: it is not empty and not a zoo "
                              f"export (no valid {MANIFEST}); choose another output directory") from None


def _swap_into_place(tmp: Path, out_dir: Path) -> None:
    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{secrets.token_hex(4)}")
        os.rename(out_dir, old)
    try:
        os.rename(tmp, out_dir)
    except BaseException:
        if old is not None:
            os.rename(old, out_dir)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _check_spec_name(name: str, seen: set[str]) -> None:
    p = Path(name)
    if (not name or p.is_absolute() or ".." in p.parts or name in (MANIFEST, KERAS_FILE)
            or p.parts[0].startswith(".")):
        raise ExportError(f"SavedModel name {name!r} must be a plain relative folder name")
    if name in seen:
        raise ExportError(f"two SavedModels of one export are both named {name!r}")
    seen.add(name)


# -- export ----------------------------------------------------------------------------------
def export_model(model: keras.Model, config: ExperimentConfig | dict | str | os.PathLike,
                 out_dir, depths: Iterable[int] | None = None) -> Path:
    """Export `model` (built from recipe `config`) into `out_dir`, replacing an earlier export.

    `depths` selects which SavedModels the family hook writes (its meaning is the family's:
    recursion depths for the byte autoencoder); None writes all of them.
    """
    import zoo

    if not isinstance(config, ExperimentConfig):
        config = load_recipe(config)
    entry = model_entry(config.model.name)
    hook = family_exporter(entry.family)
    if depths is not None:
        depths = list(depths)
        if not depths or any(isinstance(d, bool) or not isinstance(d, int) for d in depths):
            raise ExportError(f"depths must be a non-empty list of integers, got {depths!r}")
        depths = sorted(set(depths))
    build_model(model, entry)

    out_dir = Path(out_dir).absolute()
    _check_replaceable(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        # mkdtemp makes the folder private (0700); the export gets a normal folder's mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        entries, seen = [], set()
        for spec in hook(model, config, depths):
            _check_spec_name(spec.name, seen)
            described = {k: describe_signature(k, fn) for k, fn in spec.signatures.items()}
            tf.saved_model.save(spec.module, str(tmp / spec.name), signatures=spec.signatures)
            entries.append({**spec.info, "path": spec.name, "signatures": described})
        if not entries:
            raise ExportError(f"the {entry.family!r} exporter produced no SavedModel")
        model.save(tmp / KERAS_FILE)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": config.model.name,
            "family": entry.family,
            "zoo_version": zoo.__version__,
            "tensorflow_version": tf.__version__,
            "keras_version": keras.__version__,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "keras_model": KERAS_FILE,
            "recipe": config.to_dict(),
            "savedmodels": entries,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        _swap_into_place(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def export_run(run_dir, out_dir, depths: Iterable[int] | None = None) -> Path:
    """Export a run directory's trained model (model.keras, else its latest checkpoint)."""
    run = require_run_dir(run_dir).absolute()
    out = Path(out_dir).absolute()
    if out == run or out in run.parents:
        raise ExportError(f"export destination {str(out)!r} would replace the run {str(run)!r}; "
                          f"choose a folder inside or beside it")
    config, model = load_run(run)
    return export_model(model, config, out, depths=depths)

"""Export a trained model for serving: `model.keras`, SavedModels, artifacts and a `manifest.json`.

    <out>/model.keras      the Keras model (`import zoo` then `keras.models.load_model`)
    <out>/<spec.name>/     one SavedModel per endpoint set the family's exporter asks for
    <out>/artifacts/       the run's artifacts (tokenizer, vocabulary, eval split), so an export
                           is evaluated and served without the corpus it was trained on
    <out>/manifest.json    model, family, task, versions, the resolved recipe, the artifacts and
                           per SavedModel its path, signatures (input/output names, dtypes,
                           shapes) and the exporter's own fields

The core knows no family: the model's family (`zoo.registry.Family.exporter`) turns
(model, task, selection) into `SavedModelSpec`s. SavedModels need no zoo code to load: their
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
from typing import Any, Iterable

import keras
import tensorflow as tf

from zoo.config import ExperimentConfig, load_recipe
from zoo.registry import build_model, family, model_entry
from zoo.version import __version__
from zoo.runs import ARTIFACTS, KERAS_FILE, load_run, prepare_task, require_run_dir

MANIFEST = "manifest.json"
FORMAT = "zoo-export"
FORMAT_VERSION = 2   # 2: family keys are folder names, the task and artifacts are recorded


class ExportError(ValueError):
    """An export that cannot be written or used, with a message naming the problem."""


@dataclass
class SavedModelSpec:
    """One SavedModel of an export, as produced by a family's exporter.

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
    default: str | None = None


class ServingModule(tf.Module):
    """Base of the families' serving modules: the Keras model is held untracked (a tracked
    Keras model would put its whole layer tree into the SavedModel's object graph, which no
    zoo-free loader can use and which slows saving) and its weights are tracked as the plain
    tf.Variables Keras 3 variables wrap, so the reloaded module's `variables` are the model's."""

    def __init__(self, model, name: str):
        super().__init__(name=name)
        object.__setattr__(self, "model", model)
        self.model_variables = [v.value for v in model.variables]


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
    """The manifest of an export directory; ExportError if the directory is not an export.
    Manifests of earlier versions (family keys of their own) read the same."""
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
    try:
        manifest["family"] = family(manifest.get("family", "")).name
    except KeyError as e:
        raise ExportError(f"{str(d / MANIFEST)!r}: {e.args[0]}") from None
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
    if (not name or p.is_absolute() or ".." in p.parts or name in (MANIFEST, KERAS_FILE, ARTIFACTS)
            or p.parts[0].startswith(".")):
        raise ExportError(f"SavedModel name {name!r} must be a plain relative folder name")
    if name in seen:
        raise ExportError(f"two SavedModels of one export are both named {name!r}")
    seen.add(name)


# -- export ----------------------------------------------------------------------------------
def export_model(model: keras.Model, config: ExperimentConfig | dict | str | os.PathLike,
                 out_dir, depths: Iterable[int] | None = None, *, task=None, artifacts=None) -> Path:
    """Export `model` (built from recipe `config`) into `out_dir`, replacing an earlier export.

    `depths` selects which SavedModels the family's exporter writes (its meaning is the
    family's: recursion or stack depths); None writes all of them. `task` is the recipe's task
    (restored from a run's artifacts); `artifacts` a folder copied into the export.
    """
    from zoo.registry import create_task

    if not isinstance(config, ExperimentConfig):
        config = load_recipe(config)
    entry = model_entry(config.model.name)
    fam = family(entry.family)
    if fam.exporter is None:
        raise ExportError(f"family {fam.name!r} declares no exporter")
    if depths is not None:
        depths = list(depths)
        if not depths or any(isinstance(d, bool) or not isinstance(d, int) for d in depths):
            raise ExportError(f"depths must be a non-empty list of integers, got {depths!r}")
        depths = sorted(set(depths))
    task = task if task is not None else create_task(config)
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
        for spec in fam.exporter(model, task, depths):
            _check_spec_name(spec.name, seen)
            described = {k: describe_signature(k, fn) for k, fn in spec.signatures.items()}
            tf.saved_model.save(spec.module, str(tmp / spec.name), signatures=spec.signatures)
            entries.append({**spec.info, "path": spec.name, "signatures": described})
        if not entries:
            raise ExportError(f"the {fam.name!r} exporter produced no SavedModel")
        copied = []
        if artifacts is not None and Path(artifacts).is_dir():
            shutil.copytree(artifacts, tmp / ARTIFACTS)
            copied = sorted(str(p.relative_to(tmp / ARTIFACTS)) for p in (tmp / ARTIFACTS).rglob("*")
                            if p.is_file())
        model.save(tmp / KERAS_FILE)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": config.model.name,
            "family": fam.name,
            "task": config.task.name,
            "zoo_version": __version__,
            "tensorflow_version": tf.__version__,
            "keras_version": keras.__version__,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "keras_model": KERAS_FILE,
            "recipe": config.to_dict(),
            "artifacts": copied,
            "savedmodels": entries,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        _swap_into_place(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def export_run(run_dir, out_dir, depths: Iterable[int] | None = None) -> Path:
    """Export a run directory's trained model (model.keras, else its latest checkpoint) with
    its task restored from the run's artifacts (the corpus is not read)."""
    run = require_run_dir(run_dir).absolute()
    out = Path(out_dir).absolute()
    if out == run or out in run.parents:
        raise ExportError(f"export destination {str(out)!r} would replace the run {str(run)!r}; "
                          f"choose a folder inside or beside it")
    config, model = load_run(run)
    task = prepare_task(config, run, need_data=False)
    return export_model(model, config, out, depths=depths, task=task, artifacts=run / ARTIFACTS)

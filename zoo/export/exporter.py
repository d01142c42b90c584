"""Export a trained model for serving: `model.keras`, SavedModels, artifacts and a `manifest.json`.

    <out>/model.keras      the Keras model (`import zoo` then `keras.models.load_model`)
    <out>/<spec.name>/1/   one SavedModel per endpoint set the family's exporter asks for, in
                           TF Serving's layout: `<out>/<spec.name>` is a model base path with
                           one numeric version folder (`--model_base_path=<out>/<spec.name>`)
    <out>/artifacts/       the run's artifacts (tokenizer, vocabulary, eval split), so an export
                           is evaluated and served without the corpus it was trained on
    <out>/manifest.json    model, family, task, versions, the resolved recipe, the artifacts and
                           per SavedModel its name, path (the version folder), signatures
                           (input/output names, dtypes, shapes), which of them is also served
                           as `serving_default`, and the exporter's own fields

The core knows no family: the model's family (`zoo.registry.Family.exporter`) turns
(model, task, selection) into `SavedModelSpec`s. SavedModels need no zoo code to load: their
functions are traced graphs over plain tf.Variables. Each serving function checks its inputs in
the graph (`checked_input`), so a zoo-free client gets "bytes must have shape [batch, 8]"
rather than a silently wrong answer.

The export is atomic (`zoo.export.swap`): everything is written into a temporary sibling
directory which then replaces `out_dir` in one atomic exchange, so a failure or a kill midway
leaves the previous export readable, and the next export cleans up what a killed one left.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import keras
import numpy as np
import tensorflow as tf

from zoo.config import ExperimentConfig, load_recipe
from zoo.errors import ZooError
from zoo.io import load_keras_file, one_line, utf8_path
from zoo.export.swap import leftovers, recover_leftovers, swap_into_place
from zoo.registry import Family, build_model, family, family_of_model, model_entry
from zoo.version import __version__
from zoo.runs import ARTIFACTS, KERAS_FILE, load_run, prepare_task, require_run_dir

MANIFEST = "manifest.json"
FORMAT = "zoo-export"
# 2: family keys are folder names, the task and artifacts are recorded
# 3: SavedModels in version folders (<name>/1/), a serving_default signature, in-graph input checks
FORMAT_VERSION = 3
VERSION = "1"   # the one TF Serving version folder: a re-export replaces the whole export
DEFAULT_SIGNATURE = "serving_default"


class ExportError(ZooError, ValueError):
    """An export that cannot be written or used, with a message naming the problem."""


@dataclass
class SavedModelSpec:
    """One SavedModel of an export, as produced by a family's exporter.

    name: its subdirectory under the export (a plain relative path, e.g. "depth_3").
    module: the tf.Module to save; it must track the variables its functions read.
    signatures: serving signature name -> tf.function with an input_signature (or a concrete
        function). Every input TensorSpec must carry a name: it is the signature's input key.
    info: extra manifest fields for this SavedModel (e.g. {"depth": 3, "length": 32}).
    default: which signature is also served as `serving_default` (TF Serving's and
        saved_model_cli's default); None: the first one.
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


def checked_input(x, key: str, shape, *, value_range=None, values: str | None = None,
                  finite: bool = False):
    """`x` after in-graph checks of a serving input, so any client (TF Serving, a bare
    `tf.saved_model.load`) gets a sentence instead of a silently wrong answer: the input
    signature's shapes are not enforced when a SavedModel's function is called.

    shape: one entry per axis, an int for a fixed size or a name for a free one, e.g.
        ["batch", 8] -> "bytes must have shape [batch, 8], got [1 16]".
    value_range: (lo, hi), inclusive -> "<values> must be in [lo, hi]" (values default:
        "<key> values"). finite: also reject NaN and inf.
    """
    want = "[" + ", ".join(str(d) for d in shape) + "]"
    what = values or f"{key} values"
    dims = tf.shape(x)
    # Padded so that indexing a missing axis of a lower-rank input is not itself an error.
    padded = tf.concat([dims, tf.fill([len(shape)], -1)], 0)
    ok = tf.equal(tf.size(dims), len(shape))
    for axis, d in enumerate(shape):
        if isinstance(d, int):
            ok = tf.logical_and(ok, tf.equal(padded[axis], d))
    checks = [tf.debugging.Assert(ok, [f"{key} must have shape {want}, got", dims], summarize=8)]
    with tf.control_dependencies(checks):  # the values are looked at only once the shape is right
        if value_range is not None:
            lo, hi = value_range
            # Empty batches reduce to (max, min) of the dtype, which pass.
            seen = tf.stack([tf.reduce_min(x), tf.reduce_max(x)])
            in_range = tf.logical_and(seen[0] >= tf.cast(lo, x.dtype), seen[1] <= tf.cast(hi, x.dtype))
            checks.append(tf.debugging.Assert(in_range,
                                              [f"{what} must be in [{lo}, {hi}], got values in", seen]))
        if finite:
            checks.append(tf.debugging.Assert(tf.reduce_all(tf.math.is_finite(x)),
                                              [f"{what} must be finite (no NaN or inf)"]))
    with tf.control_dependencies(checks):
        return tf.identity(x)


def select_served(selection, served, what: str, by: str) -> list:
    """A family exporter's choice of SavedModels: `selection` (None: all of `served`), refused
    in one sentence when it names one the model does not serve, e.g. "depths [4] are not served
    by this 3-layer stack; valid depths: [1, 2, 3]"."""
    chosen = list(served) if selection is None else list(selection)
    bad = [s for s in chosen if s not in served]
    if bad:
        raise ExportError(f"{what} {bad} are not served by {by}; valid {what}: {list(served)}")
    return chosen


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
        kept = leftovers(d.absolute(), "old")
        hint = (f"; an interrupted export left the earlier copy in {str(kept[-1])!r}: exporting to "
                f"this path again puts it back (or rename it)") if kept else ""
        raise ExportError(f"export directory does not exist: {str(d)!r}{hint}")
    if not (d / MANIFEST).is_file():
        raise ExportError(f"{str(d)!r} is not a zoo export (no {MANIFEST}); write one with "
                          f"zoo.export.export_run(run_dir, out_dir)")
    try:
        manifest = json.loads((d / MANIFEST).read_text())
    except (OSError, ValueError) as e:
        raise ExportError(f"{str(d / MANIFEST)!r} is unreadable: {e}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ExportError(f"{str(d / MANIFEST)!r} is not a zoo export manifest")
    version = manifest.get("format_version", 1)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ExportError(f"{str(d / MANIFEST)!r} has format version {version!r}; this zoo "
                          f"({__version__}) reads versions up to {FORMAT_VERSION}: upgrade zoo")
    try:
        for e in manifest["savedmodels"]:
            # Before version 3 a SavedModel's folder was its name (no version folder).
            e.setdefault("name", e["path"])
    except (KeyError, TypeError):
        raise ExportError(f"{str(d / MANIFEST)!r} lists no usable savedmodels") from None
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


def weights_fingerprint(model: keras.Model) -> str:
    """SHA-256 over every weight's path, dtype, shape and bytes: equal exactly when two models
    hold the same weights (recorded in the manifest as `weights_sha256`)."""
    digest = hashlib.sha256()
    for v in model.weights:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(v))
        digest.update(f"{v.path}|{value.dtype}|{value.shape}|".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def _carry_over(out_dir: Path, tmp: Path, fingerprint: str) -> None:
    """Files an earlier export at `out_dir` holds that the exporter does not write (`zoo eval`'s
    `eval/`, a user's notes) move into the new export when its weights are the same; otherwise
    they described other weights, and one line says they were not carried over."""
    if not out_dir.is_dir():
        return
    try:
        earlier = json.loads((out_dir / MANIFEST).read_text())
        made = {MANIFEST, KERAS_FILE, ARTIFACTS, str(earlier.get("keras_model", KERAS_FILE))}
        made |= {Path(e["path"]).parts[0] for e in earlier.get("savedmodels", [])}
        earlier = earlier.get("weights_sha256")
    except (OSError, ValueError, AttributeError, KeyError, TypeError, IndexError):
        return  # not a readable export: _check_replaceable let it through only when empty
    foreign = sorted(p for p in out_dir.iterdir() if not p.name.startswith(".")
                     and p.name not in made and not (tmp / p.name).exists())
    if not foreign:
        return
    names = ", ".join(p.name + ("/" if p.is_dir() else "") for p in foreign)
    if earlier != fingerprint:
        print(f"export {out_dir}: {names} of the earlier export not carried over: "
              f"{'it was' if len(foreign) == 1 else 'they were'} made for other weights",
              file=sys.stderr)
        return
    for p in foreign:
        if p.is_dir():
            shutil.copytree(p, tmp / p.name, symlinks=True)
        else:
            shutil.copy2(p, tmp / p.name)
    print(f"export {out_dir}: kept {names} from the earlier export (same weights)", file=sys.stderr)


def _check_spec_name(name: str, seen: set[str]) -> None:
    p = Path(name)
    if (not name or p.is_absolute() or ".." in p.parts or name in (MANIFEST, KERAS_FILE, ARTIFACTS)
            or p.parts[0].startswith(".")):
        raise ExportError(f"SavedModel name {name!r} must be a plain relative folder name")
    if name in seen:
        raise ExportError(f"two SavedModels of one export are both named {name!r}")
    seen.add(name)


# -- reading the files back -----------------------------------------------------------------
def _corrupt(path: Path, e: BaseException) -> ExportError:
    return ExportError(f"{str(path)!r} is corrupted or truncated ({one_line(e)}); re-export it")


def load_savedmodel(path):
    """`tf.saved_model.load(path)`, with a damaged file reported as an ExportError naming it."""
    path = Path(path)
    try:
        return tf.saved_model.load(str(path))
    except Exception as e:  # noqa: BLE001  (TF raises several types for damaged files)
        from tensorflow.core.protobuf import saved_model_pb2

        pb = path / "saved_model.pb"
        try:
            saved_model_pb2.SavedModel().ParseFromString(pb.read_bytes())
        except Exception:  # noqa: BLE001
            raise _corrupt(pb, e) from None
        # The graph parses: a damaged variables file shows when its tensors are read back, the
        # index ("not an sstable") or a data shard ("Read less bytes than requested").
        try:
            reader = tf.train.load_checkpoint(str(path / "variables" / "variables"))
            for name in reader.get_variable_to_shape_map():
                reader.get_tensor(name)
        except Exception as e2:  # noqa: BLE001
            index = path / "variables" / "variables.index"
            data = sorted((path / "variables").glob("variables.data-*"))
            named = [p for p in (index, *data) if p.name in one_line(e2)]
            named = named or ([index] if "sstable" in one_line(e2) else data)
            raise _corrupt(named[0] if len(named) == 1 else path / "variables", e2) from None
        # Intact files (e.g. an op library that is not imported): say what TensorFlow said.
        raise ExportError(f"{str(path)!r} cannot be loaded ({one_line(e)})") from None


def load_keras_model(export_dir):
    """The export's Keras model (`model.keras`), a damaged file reported as an ExportError."""
    p = Path(export_dir) / KERAS_FILE
    if not p.is_file():
        raise ExportError(f"export {str(export_dir)!r} has no {KERAS_FILE}")
    return load_keras_file(p, ExportError, "re-export it")


def _default_signature(spec: SavedModelSpec) -> str:
    if not spec.signatures:
        raise ExportError(f"SavedModel {spec.name!r} has no signatures")
    if DEFAULT_SIGNATURE in spec.signatures:
        raise ExportError(f"SavedModel {spec.name!r}: {DEFAULT_SIGNATURE!r} is set by "
                          f"SavedModelSpec.default, not named as a signature")
    default = spec.default if spec.default is not None else next(iter(spec.signatures))
    if default not in spec.signatures:
        raise ExportError(f"SavedModel {spec.name!r}: default signature {default!r} is not one of "
                          f"{sorted(spec.signatures)}")
    return default


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
    build_model(model, entry)
    task = task if task is not None else create_task(config)
    return _write_export(model, config, family(entry.family), task, out_dir, depths, artifacts)


def _write_export(model: keras.Model, config: ExperimentConfig, fam: Family, task, out_dir, depths,
                  artifacts) -> Path:
    """The export of a built `model` of family `fam`, with its loaded recipe and task: what
    `export_model` and `export_run` write once each has loaded what it was handed."""
    if fam.exporter is None:
        raise ExportError(f"family {fam.name!r} declares no exporter")
    out_dir = utf8_path(out_dir, "export folder", ExportError)
    if depths is not None:
        depths = list(depths)
        if not depths or any(isinstance(d, bool) or not isinstance(d, int) for d in depths):
            raise ExportError(f"depths must be a non-empty list of integers, got {depths!r}")
        depths = sorted(set(depths))

    out_dir = Path(out_dir).absolute()
    recover_leftovers(out_dir)
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
            default = _default_signature(spec)
            described = {k: describe_signature(k, fn) for k, fn in spec.signatures.items()}
            path = f"{spec.name}/{VERSION}"
            tf.saved_model.save(spec.module, str(tmp / path),
                                signatures={**spec.signatures, DEFAULT_SIGNATURE: spec.signatures[default]})
            entries.append({**spec.info, "name": spec.name, "path": path, "version": int(VERSION),
                            "default_signature": default, "signatures": described})
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
            "weights_sha256": weights_fingerprint(model),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        _carry_over(out_dir, tmp, manifest["weights_sha256"])
        swap_into_place(tmp, out_dir)
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
    # The run's recipe, model and task are read once here and handed down as they are.
    config, model = load_run(run)
    task = prepare_task(config, run, need_data=False)
    fam = family_of_model(config.model.name)
    return _write_export(model, config, fam, task, out, depths, run / ARTIFACTS)

"""Reading an export: `ExportClient` is the base of every family's export reader.

It reads the manifest, checks that every SavedModel it lists is on disk, loads a SavedModel on
first use with `tf.saved_model.load` (no zoo model code runs; loading is locked, so threads
share one copy; a damaged file is an ExportError naming it) and checks every input against the
manifest before TensorFlow sees it, so mistakes read as sentences instead of graph errors (the
graphs' own input checks, `zoo.export.checked_input`, are reported the same way). SavedModels
are addressed by name (`depth_3`), whatever their folder (`depth_3/1` since format 3).
`open_export(path)` returns the client class the export's family declares; what it serves is
declared by its capabilities (`zoo.export.contracts`).

Every client method that takes text takes one text or a list of texts, through `texts_in` here
(one place for every family): a str (or bytes for a family that reads bytes) gives one result, a
list, tuple or 1-D array a batch; any other type is an ExportError in one line, not a string
iterated character by character.
"""
from __future__ import annotations

import functools
import re
import threading
from pathlib import Path
from typing import Callable

import numpy as np

from zoo.export.exporter import DEFAULT_SIGNATURE, ExportError, load_savedmodel, read_manifest


def _fmt(shape) -> str:
    return "[" + ", ".join("batch" if d is None else str(d) for d in shape) + "]"


class ExportClient:
    """An export directory: its manifest and lazily loaded SavedModels.

    Subclasses set `family` (the family key their exports carry) and add the family's own API
    over `call(path, signature, inputs)`; `check_input` is their hook for value checks.
    """

    family: str = ""
    what = "model"

    def __init__(self, export_dir):
        self.export_dir = Path(export_dir)
        self.manifest = read_manifest(self.export_dir)
        if self.family and self.manifest["family"] != self.family:
            raise ExportError(f"{str(self.export_dir)!r} exports a {self.manifest['family']!r} model "
                              f"({self.manifest.get('model')}), not a {self.what}")
        self.entries = {e["name"]: e for e in self.manifest["savedmodels"]}
        for e in self.entries.values():
            if not (self.export_dir / e["path"] / "saved_model.pb").is_file():
                raise ExportError(f"export {str(self.export_dir)!r} is incomplete: "
                                  f"{e['path']}/saved_model.pb is missing")
        self.loads = 0  # how many SavedModels were read from disk
        self._loaded: dict[str, object] = {}
        self._lock = threading.Lock()

    def entry(self, path: str) -> dict:
        if path not in self.entries:
            raise ExportError(f"this export has no SavedModel {path!r}; it has {sorted(self.entries)}")
        return self.entries[path]

    def savedmodel(self, path: str):
        """The loaded SavedModel `path` (loaded once, on first use)."""
        entry = self.entry(path)
        with self._lock:
            if path not in self._loaded:
                self._loaded[path] = load_savedmodel(self.export_dir / entry["path"])
                self.loads += 1
            return self._loaded[path]

    def _resolve(self, path: str, name: str) -> str:
        if name != DEFAULT_SIGNATURE:
            return name
        entry = self.entry(path)  # exports before format 3 had no default: their first one
        return entry.get("default_signature") or next(iter(entry["signatures"]))

    def signature(self, path: str, name: str):
        """The serving function `name` of SavedModel `path` ("serving_default": its default)."""
        entry = self.entry(path)
        name = self._resolve(path, name)
        if name not in entry["signatures"]:
            raise ExportError(f"{path} has no signature {name!r}; it has "
                              f"{', '.join(sorted(entry['signatures']))}")
        return self.savedmodel(path).signatures[name]

    def call(self, path: str, name: str, inputs) -> dict[str, np.ndarray]:
        """Run signature `name` of SavedModel `path` on an array (its one input) or a dict of
        them, checked against the manifest first; returns numpy outputs."""
        import tensorflow as tf

        fn = self.signature(path, name)
        name = self._resolve(path, name)
        spec = self.entry(path)["signatures"][name]["inputs"]
        if not isinstance(inputs, dict):
            if len(spec) != 1:
                raise ExportError(f"signature {name!r} takes inputs {sorted(spec)}; pass a dict")
            inputs = {next(iter(spec)): inputs}
        if set(inputs) != set(spec):
            raise ExportError(f"{path} signature {name!r} takes inputs {sorted(spec)}, got {sorted(inputs)}")
        feed = {}
        for key, value in inputs.items():
            a = np.asarray(value, dtype=object) if spec[key]["dtype"] == "string" else np.asarray(value)
            a = self._check_spec(path, name, key, a, spec[key])
            feed[key] = tf.constant(self.check_input(path, name, key, a))
        try:
            out = fn(**feed)
        except tf.errors.InvalidArgumentError as e:
            # The graph's own input checks (checked_input) speak in sentences: pass them on.
            failed = re.search(r"assertion failed: (.*?)(?:\s*\[\[|$)", e.message, re.S)
            if failed is None:
                raise
            detail = " ".join(re.sub(r"\]\s*\[", " ", failed.group(1)).strip("[] ").split())
            detail = detail.replace("\\'", "'")  # TensorFlow prints the message's quotes escaped
            raise ExportError(f"{path} signature {name!r}: {detail}") from None
        return {k: v.numpy() for k, v in out.items()}

    def _check_spec(self, path, name, key, a: np.ndarray, spec: dict) -> np.ndarray:
        where = f"{path} signature {name!r} input {key!r}"
        want = spec["dtype"]
        if want == "string":
            if a.dtype.kind not in "OUS":
                raise ExportError(f"{where}: expected strings, got {a.dtype}")
        elif a.dtype != np.dtype(want):
            raise ExportError(f"{where}: expected {want} {self.describe_input(key)}, got {a.dtype}")
        shape = spec["shape"]
        if shape is not None:
            if a.ndim != len(shape):
                raise ExportError(f"{where}: expected shape {_fmt(shape)} (a batch), got {a.shape}")
            for axis, (got, need) in enumerate(zip(a.shape, shape)):
                if need is not None and got != need:
                    raise self.shape_error(path, name, key, axis, got, need) or ExportError(
                        f"{where}: expected shape {_fmt(shape)}, got {a.shape}")
        return a

    def example_inputs(self, path: str, name: str, seed: int = 0) -> dict[str, np.ndarray]:
        """Valid inputs of signature `name` of SavedModel `path`: a batch of 2 (other unknown
        dimensions 5), from the manifest's specs and the family's `example_input` hook. For
        serving smoke tests and for the zoo's own export sweep."""
        rng = np.random.default_rng(seed)
        spec = self.entry(path)["signatures"][name]["inputs"]
        return {key: self.example_input(path, name, key, s, rng) for key, s in spec.items()}

    # -- hooks for the families ------------------------------------------------------------------
    def example_input(self, path, name, key, spec: dict, rng) -> np.ndarray:
        """One example input from its manifest spec; families override it for inputs with
        structure (byte ids, token ids)."""
        shape = [2 if i == 0 and d is None else 5 if d is None else d for i, d in enumerate(spec["shape"] or [2])]
        if spec["dtype"] == "string":
            texts = ["Change password", "Delete %(name)s? See <a href=\"https://example.org/\">docs</a>."]
            return np.array([texts[i % 2] for i in range(int(np.prod(shape)))], dtype=object).reshape(shape)
        if np.issubdtype(np.dtype(spec["dtype"]), np.floating):
            return rng.standard_normal(shape).astype(spec["dtype"])
        return np.zeros(shape, spec["dtype"])

    def describe_input(self, key: str) -> str:
        """How an input is named in messages (e.g. "byte ids")."""
        return "values"

    def shape_error(self, path, name, key, axis, got, need) -> ExportError | None:
        """A family's own wording for a wrong static dimension (None: the generic message)."""
        return None

    def check_input(self, path, name, key, a: np.ndarray) -> np.ndarray:
        """Family value checks after dtype and shape (e.g. the byte range)."""
        return a


# -- one text or many ------------------------------------------------------------------------
TEXT = (str,)
TEXT_OR_BYTES = (str, bytes, bytearray)


def _kind_name(kinds) -> str:
    return "str or bytes" if bytes in kinds else "str"


def as_texts(value, kinds=TEXT, what: str = "text") -> tuple[list, bool]:
    """(the texts as a list, whether one text was given): one text of `kinds`, or a list,
    tuple or 1-D array of them; anything else is an ExportError naming what was given. A str
    must be valid Unicode (no undecodable bytes smuggled in as lone surrogates)."""
    if isinstance(value, kinds):
        items, single = [value], True
    elif isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim == 1):
        items, single = list(value), False
    else:
        shape = f" of shape {value.shape}" if isinstance(value, np.ndarray) else ""
        raise ExportError(f"{what}: expected one text ({_kind_name(kinds)}) or a list of texts, "
                          f"got {type(value).__name__}{shape}")
    for i, t in enumerate(items):
        where = what if single else f"{what} {i}"
        if not isinstance(t, kinds):
            raise ExportError(f"{where}: expected a text ({_kind_name(kinds)}), got {type(t).__name__}")
        if isinstance(t, str):
            try:
                t.encode("utf-8")
            except UnicodeEncodeError as e:
                raise ExportError(f"{where} is not valid Unicode (undecodable input at character "
                                  f"{e.start}); pass the raw bytes or decode them first") from None
    return items, single


def first(batch):
    """The one result in a batch of one: element 0 of a list or array, per key of a dict;
    numpy scalars become Python numbers."""
    if isinstance(batch, dict):
        return {k: first(v) for k, v in batch.items()}
    out = batch[0]
    return out.item() if isinstance(out, np.generic) else out


def texts_in(kinds=TEXT, what: str = "text") -> Callable:
    """Method decorator: the method's first argument is one text or a list of them; the method
    itself always sees a list, and its batch answer becomes one result for one text."""

    def wrap(method):
        @functools.wraps(method)
        def call(self, texts, *args, **kwargs):
            items, single = as_texts(texts, kinds, what)
            out = method(self, items, *args, **kwargs)
            return first(out) if single else out
        return call

    return wrap


def open_export(export_dir) -> ExportClient:
    """The client of an export directory, as its family declares (`Family.client`)."""
    from zoo.registry import family

    manifest = read_manifest(export_dir)
    cls = family(manifest["family"]).client
    if cls is None:
        raise ExportError(f"family {manifest['family']!r} declares no export client")
    return cls(export_dir)

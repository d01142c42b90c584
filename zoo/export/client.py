"""A small client for a byte-autoencoder export (seed 000, §2): text in, code or text out.

It turns a paragraph into byte ids (bytes, EOS 0, padding -1 up to the padded length), routes it
to the SavedModel of the matching recursion depth, loads that SavedModel on first use with
`tf.saved_model.load` (no zoo model code runs), and checks every input against the manifest
before TensorFlow sees it, so mistakes read as sentences instead of graph errors.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from zoo.data.bytes import EOS, PAD, decode_bytes, encode_bytes, padded_length
from zoo.export.exporter import ExportError, read_manifest

FAMILY = "byte_autoencoder"
_WHAT = {"bytes": "byte ids", "code": "codes"}


class ByteAutoencoderClient:
    """Serve a byte-autoencoder export directory written by `zoo.export.export_run`."""

    def __init__(self, export_dir):
        self.export_dir = Path(export_dir)
        self.manifest = read_manifest(self.export_dir)
        if self.manifest.get("family") != FAMILY:
            raise ExportError(f"{str(self.export_dir)!r} exports a {self.manifest.get('family')!r} "
                              f"model ({self.manifest.get('model')}), not a byte autoencoder")
        self._entries = {e["depth"]: e for e in self.manifest["savedmodels"]}
        for e in self._entries.values():
            if not (self.export_dir / e["path"] / "saved_model.pb").is_file():
                raise ExportError(f"export {str(self.export_dir)!r} is incomplete: "
                                  f"{e['path']}/saved_model.pb is missing")
        self._loaded: dict[int, object] = {}

    # -- what the export serves ----------------------------------------------------------------
    @property
    def depths(self) -> list[int]:
        return sorted(self._entries)

    @property
    def lengths(self) -> dict[int, int]:
        """Padded length served by each depth."""
        return {d: self._entries[d]["length"] for d in self.depths}

    @property
    def max_bytes(self) -> int:
        """Longest paragraph (in bytes, EOS not counted) the export can take."""
        return max(e["max_bytes"] for e in self._entries.values())

    @property
    def code_dim(self) -> int:
        return self._entries[self.depths[0]]["code_dim"]

    def depth_for(self, n_bytes: int) -> int:
        """The depth whose SavedModel serves a paragraph of `n_bytes` bytes."""
        if n_bytes > self.max_bytes:
            top = max(self.lengths.values())
            raise ExportError(f"text is {n_bytes} bytes long but this export takes at most "
                              f"{self.max_bytes} bytes (padded length {top} includes the EOS byte)")
        for d in self.depths:
            e = self._entries[d]
            if e["min_bytes"] <= n_bytes <= e["max_bytes"]:
                return d
        need = padded_length(n_bytes)
        raise ExportError(f"a text of {n_bytes} bytes needs padded length {need}, which this "
                          f"export does not include; exported depths: {self.depths} "
                          f"(lengths {list(self.lengths.values())})")

    # -- text-level API ------------------------------------------------------------------------
    @staticmethod
    def _as_bytes(text: str | bytes) -> bytes:
        if isinstance(text, str):
            text = text.encode("utf-8")
        elif not isinstance(text, (bytes, bytearray)):
            raise ExportError(f"expected str or bytes, got {type(text).__name__}")
        nul = bytes(text).find(b"\0")
        if nul >= 0:
            # NUL is the EOS byte: inside a paragraph it would end it early.
            raise ExportError(f"text contains a NUL byte at position {nul}; NUL is the "
                              f"end-of-sequence byte and cannot appear inside a paragraph")
        return bytes(text)

    def ids(self, text: str | bytes) -> tuple[int, np.ndarray]:
        """(depth, int32 ids [1, L]) of a paragraph, as the export's SavedModel wants them."""
        b = self._as_bytes(text)
        depth = self.depth_for(len(b))
        return depth, encode_bytes(b, self._entries[depth]["length"])[None]

    def encode(self, text: str | bytes) -> np.ndarray:
        """The paragraph's code, float32 [code_dim]."""
        depth, ids = self.ids(text)
        return self.call_signature(depth, "encode", ids)["code"][0]

    def reconstruct_bytes(self, text: str | bytes) -> bytes:
        """The autoencoder's reconstruction, cut at the first predicted EOS."""
        depth, ids = self.ids(text)
        return decode_bytes(self.call_signature(depth, "reconstruct", ids)["bytes"][0])

    def reconstruct(self, text: str | bytes) -> str | bytes:
        """Reconstruction of the same type as `text`; as str, undecodable bytes become U+FFFD."""
        out = self.reconstruct_bytes(text)
        return out.decode("utf-8", errors="replace") if isinstance(text, str) else out

    def decode(self, code, length: int) -> bytes | list[bytes]:
        """Bytes (cut at the first predicted EOS) decoded at padded `length` from a code
        [code_dim], or a list of them from codes [batch, code_dim]."""
        by_length = {L: d for d, L in self.lengths.items()}
        if length not in by_length:
            raise ExportError(f"this export decodes at padded lengths {sorted(by_length)}, "
                              f"got {length}")
        code = np.asarray(code)
        single = code.ndim == 1
        logits = self.call_signature(by_length[length], "decode", code[None] if single else code)["logits"]
        out = [decode_bytes(row) for row in logits]
        return out[0] if single else out

    # -- raw signatures ------------------------------------------------------------------------
    def signature(self, depth: int, name: str):
        """The loaded serving function `name` of `depth_{depth}` (loaded on first use)."""
        entry = self._entry(depth)
        if name not in entry["signatures"]:
            raise ExportError(f"depth {depth} has no signature {name!r}; it has "
                              f"{', '.join(sorted(entry['signatures']))}")
        if depth not in self._loaded:
            self._loaded[depth] = tf.saved_model.load(str(self.export_dir / entry["path"]))
        return self._loaded[depth].signatures[name]

    def call_signature(self, depth: int, name: str, inputs) -> dict[str, np.ndarray]:
        """Run signature `name` of depth `depth` on an array (its one input) or a dict of them,
        checked against the manifest first; returns numpy outputs."""
        fn = self.signature(depth, name)
        spec = self._entry(depth)["signatures"][name]["inputs"]
        if not isinstance(inputs, dict):
            if len(spec) != 1:
                raise ExportError(f"signature {name!r} takes inputs {sorted(spec)}; pass a dict")
            inputs = {next(iter(spec)): inputs}
        if set(inputs) != set(spec):
            raise ExportError(f"depth {depth} signature {name!r} takes inputs {sorted(spec)}, "
                              f"got {sorted(inputs)}")
        feed = {k: tf.constant(self._check_input(depth, name, k, np.asarray(v), spec[k]))
                for k, v in inputs.items()}
        return {k: v.numpy() for k, v in fn(**feed).items()}

    def _entry(self, depth: int) -> dict:
        if depth not in self._entries:
            raise ExportError(f"this export has no depth {depth}; exported depths: {self.depths}")
        return self._entries[depth]

    def _check_input(self, depth, name, key, a: np.ndarray, spec: dict) -> np.ndarray:
        where = f"depth {depth} signature {name!r} input {key!r}"
        want = np.dtype(spec["dtype"])
        if a.dtype != want:
            raise ExportError(f"{where}: expected {want} {_WHAT.get(key, 'values')}, got {a.dtype}")
        shape = spec["shape"]
        if shape is not None:
            if a.ndim != len(shape):
                raise ExportError(f"{where}: expected shape {_fmt(shape)} (a batch), got {a.shape}")
            for axis, (got, need) in enumerate(zip(a.shape, shape)):
                if need is not None and got != need:
                    if key == "bytes" and axis == 1:
                        raise ExportError(f"depth {depth} serves length {need}, got {got}")
                    raise ExportError(f"{where}: expected shape {_fmt(shape)}, got {a.shape}")
        if key == "bytes" and a.size and (a.min() < PAD or a.max() > 255):
            raise ExportError(f"{where}: byte ids must be {PAD} (padding), {EOS} (EOS) or "
                              f"1..255, got values in [{a.min()}, {a.max()}]")
        return a


def _fmt(shape) -> str:
    return "[" + ", ".join("batch" if d is None else str(d) for d in shape) + "]"

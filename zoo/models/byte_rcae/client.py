"""The export reader of the byte autoencoder ("Byte-level Recursive Convolutional Auto-Encoder
for Text", §2): text in, code or text out, through the exported SavedModels only.

It turns a paragraph into byte ids (bytes, EOS 0, padding -1 up to the padded length), routes
it to the SavedModel of the matching recursion depth and checks inputs against the manifest
(`zoo.export.ExportClient`); no zoo model code runs.
"""
from __future__ import annotations

import numpy as np

from zoo.export import ExportClient, ExportError, Reconstructor, TextEncoder
from zoo.export.client import TEXT_OR_BYTES, texts_in
from zoo.models.byte_rcae.data import EOS, PAD, decode_bytes, encode_bytes, padded_length

_WHAT = {"bytes": "byte ids", "code": "codes"}


class ByteAutoencoderClient(ExportClient, Reconstructor, TextEncoder):
    """Serve a byte-autoencoder export directory written by `zoo.export.export_run`: `reconstruct`,
    `reconstruct_bytes` and `encode` take one paragraph (str or bytes) or a list of them."""

    family = "byte_rcae"
    what = "byte autoencoder"

    def __init__(self, export_dir):
        super().__init__(export_dir)
        self._by_depth = {e["depth"]: e for e in self.entries.values()}

    # -- what the export serves ----------------------------------------------------------------
    @property
    def depths(self) -> list[int]:
        return sorted(self._by_depth)

    @property
    def lengths(self) -> dict[int, int]:
        """Padded length served by each depth."""
        return {d: self._by_depth[d]["length"] for d in self.depths}

    @property
    def max_bytes(self) -> int:
        """Longest paragraph (in bytes, EOS not counted) the export can take."""
        return max(e["max_bytes"] for e in self._by_depth.values())

    @property
    def code_dim(self) -> int:
        return self._by_depth[self.depths[0]]["code_dim"]

    def depth_for(self, n_bytes: int) -> int:
        """The depth whose SavedModel serves a paragraph of `n_bytes` bytes."""
        if n_bytes > self.max_bytes:
            top = max(self.lengths.values())
            raise ExportError(f"text is {n_bytes} bytes long but this export takes at most "
                              f"{self.max_bytes} bytes (padded length {top} includes the EOS byte)")
        for d in self.depths:
            e = self._by_depth[d]
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
        return depth, encode_bytes(b, self._by_depth[depth]["length"])[None]

    def _batched(self, name: str, key: str, texts: list) -> np.ndarray:
        """Signature `name`'s output `key` for each text, one call per depth, in input order."""
        routed = [self.ids(t) for t in texts]
        rows: list = [None] * len(texts)
        for depth in sorted({d for d, _ in routed}):
            at = [i for i, (d, _) in enumerate(routed) if d == depth]
            out = self.call_signature(depth, name, np.concatenate([routed[i][1] for i in at]))[key]
            for i, row in zip(at, out):
                rows[i] = row
        return rows

    @texts_in(TEXT_OR_BYTES)
    def encode(self, texts) -> np.ndarray:
        """The paragraph's code, float32 [code_dim]; for a list of paragraphs [batch, code_dim]."""
        if not texts:
            return np.zeros((0, self.code_dim), np.float32)
        return np.stack(self._batched("encode", "code", texts))

    @texts_in(TEXT_OR_BYTES)
    def reconstruct_bytes(self, texts) -> bytes | list[bytes]:
        """The autoencoder's reconstruction, cut at the first predicted EOS (a list for a list)."""
        return [decode_bytes(row) for row in self._batched("reconstruct", "bytes", texts)]

    @texts_in(TEXT_OR_BYTES)
    def reconstruct(self, texts) -> str | bytes | list:
        """Reconstruction of the same type as each text; as str, undecodable bytes become U+FFFD."""
        return [out.decode("utf-8", errors="replace") if isinstance(text, str) else out
                for text, out in zip(texts, self.reconstruct_bytes(texts))]

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
    def call_signature(self, depth: int, name: str, inputs) -> dict[str, np.ndarray]:
        """Run signature `name` of depth `depth` on an array (its one input) or a dict of them."""
        if depth not in self._by_depth:
            raise ExportError(f"this export has no depth {depth}; exported depths: {self.depths}")
        return self.call(self._by_depth[depth]["name"], name, inputs)

    def example_input(self, path, name, key, spec, rng):
        if key == "bytes":
            # Paragraphs of random bytes whose padded length is exactly this depth's.
            e = self.entries[path]
            sizes = rng.integers(e["min_bytes"], e["max_bytes"] + 1, size=2)
            return np.stack([encode_bytes(rng.integers(1, 256, size=n).astype(np.uint8).tobytes(), e["length"])
                             for n in sizes])
        return super().example_input(path, name, key, spec, rng)

    def describe_input(self, key):
        return _WHAT.get(key, "values")

    def shape_error(self, path, name, key, axis, got, need):
        if key == "bytes" and axis == 1:
            return ExportError(f"depth {self.entries[path]['depth']} serves length {need}, got {got}")
        return None

    def check_input(self, path, name, key, a):
        if key == "bytes" and a.size and (a.min() < PAD or a.max() > 255):
            raise ExportError(f"{path} signature {name!r} input {key!r}: byte ids must be {PAD} "
                              f"(padding), {EOS} (EOS) or 1..255, got values in [{a.min()}, {a.max()}]")
        return a

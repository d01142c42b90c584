"""Serving export of the sentence encoders: one SavedModel `encoder/` that reads strings, with the
SentencePiece tokenizer inside the graph (tensorflow-text's op; the tokenizer's model is saved
in the SavedModel), usable with only `import tensorflow, tensorflow_text`.

Signature `encode` (also `serving_default`): {texts: string [B]} -> {code: float32 [B, code_dim],
tokens: int32 [B] (the pieces each text has; whole texts are encoded, none is cut)}. An empty
text has no piece and the zero code.

`TextEncoderClient.encode(texts)` is the `TextEncoder` contract (`zoo.export.contracts`): float32
[code_dim] for one text, [batch, code_dim] for a list. `export_fingerprint(export_dir)`: the
SHA-256 of the export's manifest.json, which names the model, the recipe (and so the corpus,
tokenizer size and seeds), the signatures and the export's creation time: what a metric records
to say which encoder made its embeddings.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import tensorflow as tf

from zoo.export import ExportClient, ExportError, SavedModelSpec, ServingModule, TextEncoder
from zoo.export.client import TEXT_OR_BYTES, texts_in
from zoo.export.exporter import MANIFEST, read_manifest

NAME = "encoder"


class EncoderServing(ServingModule):
    def __init__(self, model, tokenizer):
        super().__init__(model, name="sentence_encoder")
        self.tokenizer = tokenizer   # a tf.Module: its SentencePiece model is saved inside
        self.encode = tf.function(self._encode, input_signature=[tf.TensorSpec([None], tf.string, name="texts")])

    def _encode(self, texts):
        ragged = self.tokenizer.tf_encode(texts)
        ids = ragged.to_tensor(default_value=0)
        # A batch of empty texts has no column, which a recurrent encoder cannot run over: give it
        # one pad column (pads are masked, so an empty text still gets the zero code).
        ids = tf.pad(ids, [[0, 0], [0, tf.maximum(1 - tf.shape(ids)[1], 0)]])
        code = tf.cast(self.model(ids, training=False), tf.float32)
        return {"code": code, "tokens": tf.cast(ragged.row_lengths(), tf.int32)}


def export_encoder(model, task, selection):
    if selection:
        raise ExportError(f"{type(model).__name__} serves one encoder; there is nothing to select")
    module = EncoderServing(model, task.tokenizer)
    info = {"model": type(model).__name__, "code_dim": int(model.code_dim), "vocab_size": int(model.vocab_size),
            "tokenizer": task.tokenizer.kind}
    yield SavedModelSpec(name=NAME, module=module, default="encode", info=info,
                         signatures={"encode": module.encode})


def export_fingerprint(export_dir) -> str:
    """SHA-256 (hex) of the export's manifest.json: which encoder export made an embedding."""
    read_manifest(export_dir)   # an ExportError in one line if it is not an export
    return hashlib.sha256((Path(export_dir) / MANIFEST).read_bytes()).hexdigest()


class TextEncoderClient(ExportClient, TextEncoder):
    """Reads a sentence-encoder export: `encode(texts)` of one text or a list of them."""

    family = "textgen"
    what = "sentence encoder"

    @property
    def code_dim(self) -> int:
        return int(self.entry(NAME)["code_dim"])

    @property
    def fingerprint(self) -> str:
        return export_fingerprint(self.export_dir)

    @texts_in(TEXT_OR_BYTES)
    def encode(self, texts, batch_size: int = 256) -> np.ndarray:
        """float32 codes: [code_dim] for one text (str, or UTF-8 bytes), [batch, code_dim] for a list."""
        items = []
        for i, t in enumerate(texts):
            if isinstance(t, (bytes, bytearray)):
                try:
                    t = bytes(t).decode("utf-8")
                except UnicodeDecodeError as e:
                    raise ExportError(f"text {i} is not valid UTF-8 (byte {e.start}); decode it first") from None
            items.append(t)
        # An empty text has the zero code without a call: exports made before the graph padded an
        # all-empty batch fail on one (a generator that collapsed to empty sentences draws them).
        codes = np.zeros([len(items), self.code_dim], np.float32)
        full = [i for i, t in enumerate(items) if t]
        for start in range(0, len(full), batch_size):
            rows = full[start:start + batch_size]
            codes[rows] = self.call(NAME, "encode", {"texts": np.array([items[i] for i in rows], object)})["code"]
        return codes

    def example_input(self, path, name, key, spec, rng):
        if key == "texts":
            return np.array(["The first sentence.", ""], object)
        return super().example_input(path, name, key, spec, rng)

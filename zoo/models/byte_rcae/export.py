"""Serving export of the byte-level recursive convolutional autoencoder ("Byte-level Recursive
Convolutional Auto-Encoder for Text", §2).

The recursion groups run log2(L/4) times for a padded length L, so each depth d is its own
graph: one SavedModel per depth at `depth_{d}/` serving L = code_length * 2^d, with a static
length so the recursion unrolls and no while-loop is needed. The static model (§4.6) reads only
its fixed length and gets the one SavedModel of its depth.

Signatures of `depth_{d}/` (padding -1 one-hot encodes to the paper's all-zero vector):
    encode:      {"bytes": int32 [None, L]}    -> {"code": float32 [None, code_dim]}
    decode:      {"code": float32 [None, code_dim]} -> {"logits": float32 [None, L, 256]}
    reconstruct: {"bytes": int32 [None, L]}    -> {"logits": float32 [None, L, 256],
                                                   "bytes": int32 [None, L] (argmax ids)}
serving_default is `reconstruct`. Every function checks its input in the graph: byte ids must
have shape [batch, L] and values in [-1, 255] (-1 padding, 0 EOS, 1..255 bytes), codes shape
[batch, code_dim] and finite values; anything else fails with that sentence instead of being
reshaped into other rows or encoded like padding.
"""
from __future__ import annotations

import tensorflow as tf

from zoo.export import SavedModelSpec, ServingModule, checked_input, select_served
from zoo.models.byte_rcae.data import PAD
from zoo.models.byte_rcae.model import NUM_BYTES


class ByteAutoencoderServing(ServingModule):
    """The three serving functions of a byte autoencoder at one padded length."""

    def __init__(self, model, length: int):
        super().__init__(model, name=f"byte_autoencoder_L{length}")
        self.length = length
        ids = tf.TensorSpec([None, length], tf.int32, name="bytes")
        code = tf.TensorSpec([None, model.code_dim], tf.float32, name="code")
        # No autograph: the static length makes every loop a Python loop at trace time.
        self.encode = tf.function(self._encode, input_signature=[ids], autograph=False)
        self.decode = tf.function(self._decode, input_signature=[code], autograph=False)
        self.reconstruct = tf.function(self._reconstruct, input_signature=[ids], autograph=False)

    def _ids(self, ids):
        return checked_input(ids, "bytes", ["batch", self.length], value_range=(PAD, NUM_BYTES - 1),
                             values="byte values")

    def _encode(self, bytes):  # noqa: A002  (the argument name is the signature's input key)
        return {"code": self.model.encode(self._ids(bytes))}

    def _decode(self, code):
        code = checked_input(code, "code", ["batch", self.model.code_dim], finite=True)
        return {"logits": self.model.decode(code, self.length)}

    def _reconstruct(self, bytes):  # noqa: A002
        logits = self.model(self._ids(bytes), training=False)
        return {"logits": logits, "bytes": tf.argmax(logits, axis=-1, output_type=tf.int32)}

    def signatures(self) -> dict:
        return {"encode": self.encode, "decode": self.decode, "reconstruct": self.reconstruct}


def servable_depths(model) -> list[int]:
    return list(range(model.max_depth + 1)) if model.recursive else [model.max_depth]


def byte_range(model, length: int) -> tuple[int, int]:
    """Paragraph sizes in bytes (EOS not counted) that are served at padded `length`: those
    whose own padded length it is, or any that fit for the fixed-length static model."""
    if not model.recursive or length == model.code_length:
        return 0, length - 1
    return length // 2, length - 1


def export_byte_autoencoder(model, task, depths):
    """One SavedModel per recursion depth (all the model serves when `depths` is None)."""
    kind = "recursive" if model.recursive else "static"
    for d in select_served(depths, servable_depths(model), "depths",
                           f"this {kind} model (max_length {model.max_length})"):
        length = model.code_length * 2 ** d
        module = ByteAutoencoderServing(model, length)
        lo, hi = byte_range(model, length)
        yield SavedModelSpec(
            name=f"depth_{d}", module=module, signatures=module.signatures(), default="reconstruct",
            info={"depth": d, "length": length, "min_bytes": lo, "max_bytes": hi,
                  "code_dim": model.code_dim, "num_bytes": NUM_BYTES})

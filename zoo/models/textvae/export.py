"""Serving export of the text VAEs (Semeniuta's dissertation §5.3; "A Hybrid Convolutional
Variational Autoencoder for Text Generation", 2017).

The models read windows of one fixed length by design, so an export holds one SavedModel per
length the model was trained for, `length_{L}/` (a model has one; the client pads shorter text
with END as the windows were padded in training). Signatures of `length_{L}/`:

    encode:      {"bytes": int32 [None, L]}          -> {"mu", "logvar": float32 [None, z]}
    decode:      {"z": float32 [None, z]}            -> {"bytes": int32 [None, L]} (greedy)
    sample:      {"count": int32 [], "seed": int32 [], "temperature": float32 []}
                                                      -> {"z": float32 [count, z] from the prior,
                                                          "bytes": int32 [count, L]: greedy at
                                                          temperature 0, else sampled}
    reconstruct: {"bytes": int32 [None, L]}          -> {"mu": [None, z], "bytes": int32 [None, L]
                                                          greedily decoded from the posterior mean}

serving_default is `reconstruct`. The functions check their inputs in the graph (shape, byte
range, finite codes, a count in [1, 10000], a temperature in [0, 100]) and say so in a sentence. (An empty batch is the
client's to answer: the decoders' matmuls cannot reshape a batch of none inside the loop.)
"""
from __future__ import annotations

import tensorflow as tf

from zoo.export import SavedModelSpec, ServingModule, checked_input, select_served
from zoo.models.textvae.model import VOCAB

MAX_COUNT = 10000
MAX_TEMPERATURE = 100.0


class TextVAEServing(ServingModule):
    """The four serving functions of a text VAE at its window length."""

    def __init__(self, model):
        super().__init__(model, name=f"text_vae_L{model.length}")
        L, dz = model.length, model.latent_dim
        ids = tf.TensorSpec([None, L], tf.int32, name="bytes")
        z = tf.TensorSpec([None, dz], tf.float32, name="z")
        count = tf.TensorSpec([], tf.int32, name="count")
        seed = tf.TensorSpec([], tf.int32, name="seed")
        temperature = tf.TensorSpec([], tf.float32, name="temperature")
        self.encode = tf.function(self._encode, input_signature=[ids], autograph=False)
        self.decode = tf.function(self._decode, input_signature=[z], autograph=False)
        self.sample = tf.function(self._sample, input_signature=[count, seed, temperature],
                                  autograph=False)
        self.reconstruct = tf.function(self._reconstruct, input_signature=[ids], autograph=False)

    def _ids(self, ids):
        return checked_input(ids, "bytes", ["batch", self.model.length], value_range=(0, VOCAB - 1),
                             values="byte values")

    def _posterior(self, ids):
        mu, logvar = self.model.encode(self._ids(ids), training=False)
        return tf.cast(mu, tf.float32), tf.cast(logvar, tf.float32)

    def _encode(self, bytes):  # noqa: A002  (the argument name is the signature's input key)
        mu, logvar = self._posterior(bytes)
        return {"mu": mu, "logvar": logvar}

    def _decode(self, z):
        z = checked_input(z, "z", ["batch", self.model.latent_dim], finite=True)
        return {"bytes": self.model.generate(z)}

    def _sample(self, count, seed, temperature):
        count = checked_input(count, "count", [], value_range=(1, MAX_COUNT))
        temperature = checked_input(temperature, "temperature", [], value_range=(0.0, MAX_TEMPERATURE),
                                    finite=True)
        z = tf.random.stateless_normal(tf.stack([count, self.model.latent_dim]), seed=tf.stack([seed, 0]))
        return {"z": z, "bytes": self.model.generate(z, temperature=temperature, seed=seed)}

    def _reconstruct(self, bytes):  # noqa: A002
        mu, _ = self._posterior(bytes)
        return {"mu": mu, "bytes": self.model.generate(mu)}

    def signatures(self) -> dict:
        return {"encode": self.encode, "decode": self.decode, "sample": self.sample,
                "reconstruct": self.reconstruct}


def export_text_vae(model, task, lengths):
    """One SavedModel per served window length (the model's one length; `lengths` None: all)."""
    for L in select_served(lengths, [model.length], "lengths", f"this model (length {model.length})"):
        module = TextVAEServing(model)
        yield SavedModelSpec(name=f"length_{L}", module=module, signatures=module.signatures(),
                             default="reconstruct",
                             info={"length": L, "latent_dim": model.latent_dim, "max_count": MAX_COUNT})

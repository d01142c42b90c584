"""SliceNet (Kaiser et al., "Depthwise Separable Convolutions for Neural Machine Translation", §3,
Figure 1) and its ByteNet-like baseline (Table 2, first row).

Inputs: {"source": int32 [B, S], "target_in": int32 [B, T]} with 0 = padding. `target_in` is the
target shifted right: its first token is GO, or the target-language token when a model serves
several target languages (the language embedding is the first decoder input). Output: logits
[B, T, vocab_size] through the shared input/output embedding.

    InputEncoder(x)       = ConvModule^E(x + timing)                       (same padding)
    IOMixer(i, o)         = ConvStep_{k=3}([attention(i, o) || o])          (causal)
    AttnConvModule(x, i)  = ConvModule(x) + attention(i, x)                 (causal)
    Decoder(x)            = AttnConvModule^D(x, InputEncoder(source))
Every convolution that sees the targets is causal, so logits[:, t] depend on target_in[:, :t+1].
"""
from __future__ import annotations

import math

import keras
import tensorflow as tf

from zoo.models.slicenet.layers import (SEPARABILITIES, AttentionModule, ConvModule, ConvStep,
                                        step_groups, timing_signal)
from zoo.registry import register_model, serializable

PAD, EOS, UNK, GO = 0, 1, 2, 3
NUM_SPECIAL = 4


def _example(model, batch, rng):
    """Random token ids with trailing padding for the registry sweep."""
    v = model.vocab_size
    src = rng.integers(NUM_SPECIAL, v, size=(batch, 7)).astype("int32")
    src[:, 5:] = PAD
    tgt = rng.integers(NUM_SPECIAL, v, size=(batch, 6)).astype("int32")
    tgt[:, 0] = GO
    tgt[:, 4:] = PAD
    return {"source": src, "target_in": tgt}


def _int_list(value) -> list[int]:
    """[3, 7, 15, 31] or "3-7-15-31" (Table 2's notation; keras-tuner choices must be scalars)."""
    if isinstance(value, str):
        value = value.split("-")
    return [int(v) for v in value]


@serializable
class SliceNet(keras.Model):
    """SliceNet / ByteNet-like translation model (Kaiser et al., "Depthwise Separable Convolutions
    for Neural Machine Translation", §3).

    Args:
        vocab_size: shared source/target vocabulary (specials, subwords or bytes, language tokens).
        filters: feature depth c of every layer (paper Table 2: 1024; large rows 2048 / 3072).
        encoder_modules, decoder_modules: ConvModules in the InputEncoder (6) and Decoder (4).
        kernel_sizes, dilations: the steps of every ConvModule (Table 2 columns; §3.1 default
            3-3-15-15 with dilations 1-1-1-8).
        separability: "none" (ByteNet-like), "full", "sub" (g = `groups`), "super" (g = 2/3).
        groups: groups of sub-separable convolutions (Table 2: 16).
        dropout: ConvModule output dropout while training (paper: 0.5).
    """

    def __init__(self, vocab_size=32768, filters=1024, encoder_modules=6, decoder_modules=4,
                 kernel_sizes=(3, 3, 15, 15), dilations=(1, 1, 1, 8), separability="full", groups=16,
                 dropout=0.5, **kwargs):
        super().__init__(**kwargs)
        if separability not in SEPARABILITIES:
            raise ValueError(f"separability must be one of {SEPARABILITIES}, got {separability!r}")
        if vocab_size <= NUM_SPECIAL:
            raise ValueError(f"vocab_size must exceed the {NUM_SPECIAL} special tokens, got {vocab_size}")
        self.vocab_size, self.filters = int(vocab_size), int(filters)
        self.encoder_modules, self.decoder_modules = int(encoder_modules), int(decoder_modules)
        self.kernel_sizes, self.dilations = _int_list(kernel_sizes), _int_list(dilations)
        self.separability, self.groups, self.dropout = separability, int(groups), float(dropout)
        # Sub-layers share the model's dtype policy, so a mixed-precision model is mixed throughout.
        dtype = self.dtype_policy
        conv = dict(kernel_sizes=self.kernel_sizes, dilations=self.dilations, separability=separability,
                    groups=self.groups, dropout=self.dropout, dtype=dtype)
        self.embedding = keras.layers.Embedding(
            self.vocab_size, self.filters, name="embedding",
            embeddings_initializer=keras.initializers.RandomNormal(stddev=self.filters ** -0.5), dtype=dtype)
        self.encoder = [ConvModule(self.filters, padding="same", name=f"encoder{i}", **conv)
                        for i in range(self.encoder_modules)]
        self.mixer_attention = AttentionModule(self.filters, "causal", separability, self.groups,
                                               name="mixer_attention", dtype=dtype)
        self.mixer = ConvStep(self.filters, 3, 1, "causal", separability,
                              step_groups(separability, self.groups, 0), name="mixer", dtype=dtype)
        self.decoder = [ConvModule(self.filters, padding="causal", name=f"decoder{i}", **conv)
                        for i in range(self.decoder_modules)]
        self.decoder_attention = [AttentionModule(self.filters, "causal", separability, self.groups,
                                                  name=f"decoder_attention{i}", dtype=dtype)
                                  for i in range(self.decoder_modules)]

    def build(self, input_shape=None):
        c = self.filters
        self.embedding.build((None, None))
        # Same build order as ever: weights are created in this order (checkpoint layout).
        for m in self.encoder + self.decoder:
            m.build((None, None, c))
        for m in self.decoder_attention + [self.mixer_attention]:
            m.build(source_shape=(None, None, c), target_shape=(None, None, c))
        self.mixer.build((None, None, 2 * c))
        self.built = True

    @property
    def input_dtype(self):
        """Token ids: the dtype Keras converts inputs to and traces `export()` with."""
        return "int32"

    @property
    def embedding_parameters(self) -> int:
        return self.vocab_size * self.filters

    def non_embedding_parameters(self) -> int:
        """Table 2's "Non-Emb." column."""
        return self.count_params() - self.embedding_parameters

    def _embed(self, ids):
        return self.embedding(ids) * math.sqrt(self.filters)

    def encode(self, source, training=False):
        """InputEncoder: source ids [B, S] -> (encoding [B, S, c], mask [B, S] float)."""
        source = tf.convert_to_tensor(source, tf.int32)
        mask = tf.cast(tf.not_equal(source, PAD), self.compute_dtype)[:, :, None]
        x = self._embed(source) + timing_signal(tf.shape(source)[1], self.filters, self.compute_dtype)[None]
        # Padding is zeroed before every step so a "same" conv sees zeros past the sentence end
        # whatever the batch's padded length (batched and single decoding then agree).
        for module in self.encoder:
            x = module(x, training=training, padding_mask=mask)
        return x * mask, mask[:, :, 0]

    def decode(self, encoding, mask, target_in, training=False):
        """IOMixer + Decoder: logits [B, T, vocab] for shifted-right targets `target_in`."""
        o = self._embed(tf.convert_to_tensor(target_in, tf.int32))
        x = self.mixer(tf.concat([self.mixer_attention(encoding, o, mask), o], axis=-1))
        for module, attention in zip(self.decoder, self.decoder_attention):
            x = module(x, training=training) + attention(encoding, x, mask)
        return tf.einsum("btc,vc->btv", x, tf.cast(self.embedding.embeddings, x.dtype))

    def call(self, inputs, training=False):
        encoding, mask = self.encode(inputs["source"], training=training)
        return self.decode(encoding, mask, inputs["target_in"], training=training)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "filters": self.filters,
                "encoder_modules": self.encoder_modules, "decoder_modules": self.decoder_modules,
                "kernel_sizes": self.kernel_sizes, "dilations": self.dilations,
                "separability": self.separability, "groups": self.groups, "dropout": self.dropout}


# Table 2 of Kaiser et al., one variant per row (paper sizes as defaults; recipes shrink them).
TABLE2 = {
    "slicenet_bytenet": dict(separability="none", dilations=[1, 2, 4, 8], kernel_sizes=[3, 3, 3, 3]),
    "slicenet_full_dil": dict(separability="full", dilations=[1, 2, 4, 8], kernel_sizes=[3, 3, 3, 3]),
    "slicenet_full_k7": dict(separability="full", dilations=[1, 1, 2, 4], kernel_sizes=[3, 7, 7, 7]),
    "slicenet_full_k15": dict(separability="full", dilations=[1, 1, 1, 2], kernel_sizes=[3, 7, 15, 15]),
    "slicenet_full_k31": dict(separability="full", dilations=[1, 1, 1, 1], kernel_sizes=[3, 7, 15, 31]),
    "slicenet_sub16": dict(separability="sub", groups=16, dilations=[1, 2, 4, 8], kernel_sizes=[3, 3, 3, 3]),
    "slicenet_super": dict(separability="super", dilations=[1, 1, 1, 1], kernel_sizes=[3, 7, 15, 31]),
    "slicenet_full_2048": dict(separability="full", filters=2048, dilations=[1, 1, 1, 1, 1],
                               kernel_sizes=[3, 7, 15, 31, 63]),
    "slicenet_super_3072": dict(separability="super", filters=3072, dilations=[1, 1, 1, 1],
                                kernel_sizes=[3, 7, 15, 31]),
}
# 48 channels: divisible by the 16 groups of "sub" and by 2 and 3 of "super".
_SMOKE = dict(vocab_size=40, filters=48, encoder_modules=1, decoder_modules=1)

register_model("slicenet", smoke=_SMOKE, example_input=_example)(SliceNet)
for _name, _args in TABLE2.items():
    register_model(_name, smoke=_SMOKE, example_input=_example, **_args)(SliceNet)

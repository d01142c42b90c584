"""The sentence encoders of the text-generation metrics: token ids -> one fixed-size float vector
per sentence, the embedding the Fréchet distance (Semeniuta, "Recurrent Neural Networks for
Discriminative and Generative Learning", dissertation, 2019, §5.6.2, Eq. 5.6.1), MAUVE and
precision/recall compare.

- `InferSentEncoder` (`infersent_encoder`): token embeddings -> a bidirectional LSTM -> max
  pooling over time of each direction's hidden states, concatenated (Conneau, Kiela, Schwenk,
  Barrault and Bordes, "Supervised Learning of Universal Sentence Representations from Natural
  Language Inference Data", 2017, §3.2.2 "BiLSTM with mean/max pooling"; the encoder the
  dissertation's FD uses, §5.6.2). Padding is masked: the backward LSTM starts at a sentence's
  last real token and padded steps never win the max.
- `UniSentEncoder` (`unisent_encoder`): the mean of the sentence's unigram embeddings and the
  mean of its bigram embeddings, concatenated, through a feed-forward network (the
  dissertation's "UniSent", §5.6.3: "mean pooled uni- and bigram embeddings followed by a
  feedforward network", after the deep averaging network of Cer et al., "Universal Sentence
  Encoder", 2018). Bigrams are hashed: the bigram (a, b) of two real tokens has embedding row
  1 + (a * vocab_size + b) mod (bigram_buckets - 1); row 0 is the padding's, never averaged.

Ids: 0 is padding (the shared tokenizers never produce 0: it is their `<eos>`), 1 `<unk>`, then
pieces; rows are right-padded. `model(ids)` -> the code [batch, code_dim] in the model's compute
dtype; a sentence with no token has the zero code (whatever the biases: `call` zeroes it).

The training heads (the `textgen_encoder` task, `zoo/models/textgen/task.py`) sit beside the
encoder, never on its path: `num_topics > 0` adds a linear topic classifier
(`topic_logits(code)`) and an adjacency classifier over [u, v, |u - v|, u * v] with one hidden
layer (`pair_logits(u, v)`, InferSent's §3.1 pair features). `call` never runs them and the
export serves only the code; they are in the trained model's weights so that a run and its
export evaluate as the trainer did.
"""
from __future__ import annotations

import keras
from keras import ops

from zoo.layers.checks import check_positive_int
from zoo.layers.initializers import weight_seed
from zoo.registry import register_model, serializable

PAD = 0


@serializable
class MaskedMaxPool(keras.layers.Layer):
    """Max over time of [B, T, D] at the positions where `mask` [B, T] is true (all of them
    without a mask); a row without any such position gives zeros."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, x, mask=None):
        if mask is None:
            return ops.max(x, axis=1)
        mask = ops.cast(mask, "bool")
        low = ops.full_like(x, float("-inf"))
        pooled = ops.max(ops.where(mask[:, :, None], x, low), axis=1)
        return ops.where(ops.any(mask, axis=1)[:, None], pooled, ops.zeros_like(pooled))

    def compute_mask(self, x, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


@serializable
class MaskedMeanPool(keras.layers.Layer):
    """Mean over time of [B, T, D] at the positions where `mask` [B, T] is true (all of them
    without a mask); a row without any such position gives zeros."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, x, mask=None):
        if mask is None:
            return ops.mean(x, axis=1)
        weights = ops.cast(mask, x.dtype)[:, :, None]
        total = ops.sum(x * weights, axis=1)
        return total / ops.maximum(ops.sum(weights, axis=1), ops.cast(1.0, x.dtype))

    def compute_mask(self, x, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


def glorot(seed, *path):
    """Glorot-uniform for one weight, seeded from the model's seed and the weight's name."""
    return keras.initializers.GlorotUniform(seed=weight_seed(seed, *path))


def pair_features(u, v):
    """InferSent's pair features (Conneau et al. 2017, §3.1): [u, v, |u - v|, u * v]."""
    return ops.concatenate([u, v, ops.abs(u - v), u * v], axis=-1)


class SentenceEncoder(keras.Model):
    """What both encoders share: the id convention, the optional training heads, `code_dim`.

    Args:
        vocab_size: ids incl. padding (0) and <unk> (1); set from the tokenizer.
        num_topics: > 0 adds the training heads (set by the task from its data); 0: none.
        pair_units: hidden units of the adjacency classifier.
        seed: seed of every initializer (each weight its own, `zoo.layers.initializers`).
    """

    def __init__(self, vocab_size=4000, num_topics=0, pair_units=128, seed=None, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("vocab_size", vocab_size)
        check_positive_int("pair_units", pair_units)
        if not isinstance(num_topics, int) or isinstance(num_topics, bool) or num_topics < 0:
            raise ValueError(f"num_topics must be a non-negative integer, got {num_topics!r}")
        if vocab_size < 3:
            raise ValueError(f"vocab_size must be at least 3 (padding, <unk> and a token), got {vocab_size}")
        self.vocab_size, self.num_topics, self.pair_units, self.seed = vocab_size, num_topics, pair_units, seed
        dtype = self.dtype_policy
        self.topic_head = self.pair_hidden = self.pair_out = None
        if num_topics:
            self.topic_head = keras.layers.Dense(num_topics, name="topic_head", dtype=dtype,
                                                 kernel_initializer=glorot(seed, "topic_head"))
            self.pair_hidden = keras.layers.Dense(pair_units, activation="relu", name="pair_hidden",
                                                  dtype=dtype, kernel_initializer=glorot(seed, "pair_hidden"))
            self.pair_out = keras.layers.Dense(1, name="pair_out", dtype=dtype,
                                               kernel_initializer=glorot(seed, "pair_out"))

    @property
    def input_dtype(self):
        return "int32"

    @property
    def code_dim(self) -> int:
        raise NotImplementedError

    def build_encoder(self):
        raise NotImplementedError

    def build(self, input_shape=None):
        self.build_encoder()
        if self.num_topics:
            self.topic_head.build((None, self.code_dim))
            self.pair_hidden.build((None, 4 * self.code_dim))
            self.pair_out.build((None, self.pair_units))
        self.built = True

    def call(self, ids, training=False):
        if not self.built:
            self.build()
        ids = ops.convert_to_tensor(ids, "int32")
        mask = ops.not_equal(ids, PAD)
        code = self.encode(ids, mask, training=training)
        # No token, no code: an empty text is the zero vector whatever the biases say.
        return code * ops.cast(ops.any(mask, axis=1), code.dtype)[:, None]

    def encode(self, ids, mask, training=False):
        raise NotImplementedError

    def _heads(self):
        if not self.num_topics:
            raise ValueError("this encoder was built without training heads (num_topics=0)")

    def topic_logits(self, code):
        """Logits over the training topics [B, num_topics] of codes [B, code_dim]."""
        self._heads()
        return self.topic_head(code)

    def pair_logits(self, u, v):
        """Logit [B] that sentence v follows or precedes sentence u in their document."""
        self._heads()
        return ops.squeeze(self.pair_out(self.pair_hidden(pair_features(u, v))), -1)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "num_topics": self.num_topics,
                "pair_units": self.pair_units, "seed": self.seed}


@serializable
class InferSentEncoder(SentenceEncoder):
    """Embedding -> BiLSTM -> max pooling over time (see the module docstring).

    Args (besides `SentenceEncoder`'s): embedding_dim; units, the LSTM size of each direction
    (the code has 2 * units); dropout on the embedded tokens while training.
    """

    def __init__(self, vocab_size=4000, embedding_dim=128, units=256, dropout=0.0, num_topics=0, pair_units=128,
                 seed=None, **kwargs):
        super().__init__(vocab_size=vocab_size, num_topics=num_topics, pair_units=pair_units, seed=seed, **kwargs)
        check_positive_int("embedding_dim", embedding_dim)
        check_positive_int("units", units)
        if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
        self.embedding_dim, self.units, self.dropout = embedding_dim, units, float(dropout)
        dtype, seed = self.dtype_policy, self.seed
        self.embedding = keras.layers.Embedding(
            vocab_size, embedding_dim, name="embedding", dtype=dtype,
            embeddings_initializer=keras.initializers.RandomUniform(-0.1, 0.1, seed=weight_seed(seed, "embedding")))
        self.drop = keras.layers.Dropout(self.dropout, seed=seed, name="dropout", dtype=dtype)
        # Two LSTMs rather than keras.layers.Bidirectional, which copies the forward layer's
        # config (and so its initializer seeds) into the backward one.
        self.lstms = []
        for direction in ("forward", "backward"):
            self.lstms.append(keras.layers.LSTM(
                units, return_sequences=True, go_backwards=direction == "backward", name=f"{direction}_lstm",
                dtype=dtype, kernel_initializer=glorot(seed, direction, "kernel"),
                recurrent_initializer=keras.initializers.Orthogonal(seed=weight_seed(seed, direction, "recurrent"))))
        self.pool = MaskedMaxPool(name="max_pool", dtype=dtype)

    @property
    def code_dim(self) -> int:
        return 2 * self.units

    def build_encoder(self):
        self.embedding.build((None, None))
        for lstm in self.lstms:
            lstm.build((None, None, self.embedding_dim))

    def encode(self, ids, mask, training=False):
        x = self.drop(self.embedding(ids), training=training)
        forward = self.lstms[0](x, mask=mask, training=training)
        # go_backwards returns the outputs in reversed time order: reverse the mask to match.
        backward = self.lstms[1](x, mask=mask, training=training)
        return ops.concatenate([self.pool(forward, mask=mask), self.pool(backward, mask=ops.flip(mask, axis=1))],
                               axis=-1)

    def get_config(self):
        return {**super().get_config(), "embedding_dim": self.embedding_dim, "units": self.units,
                "dropout": self.dropout}


@serializable
class UniSentEncoder(SentenceEncoder):
    """Mean unigram and hashed-bigram embeddings -> a feed-forward network (module docstring).

    Args (besides `SentenceEncoder`'s): embedding_dim of unigrams and bigrams; bigram_buckets,
    rows of the hashed bigram table (row 0: padding); units of each feed-forward layer (the
    code has `units`); num_layers, the feed-forward layers (tanh); dropout on the pooled
    embeddings while training.
    """

    def __init__(self, vocab_size=4000, embedding_dim=128, bigram_buckets=65536, units=256, num_layers=2,
                 dropout=0.0, num_topics=0, pair_units=128, seed=None, **kwargs):
        super().__init__(vocab_size=vocab_size, num_topics=num_topics, pair_units=pair_units, seed=seed, **kwargs)
        for name, value in (("embedding_dim", embedding_dim), ("bigram_buckets", bigram_buckets),
                            ("units", units), ("num_layers", num_layers)):
            check_positive_int(name, value)
        if bigram_buckets < 2:
            raise ValueError(f"bigram_buckets must be at least 2 (padding and one bigram), got {bigram_buckets}")
        if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
        self.embedding_dim, self.bigram_buckets, self.units = embedding_dim, bigram_buckets, units
        self.num_layers, self.dropout = num_layers, float(dropout)
        dtype, seed = self.dtype_policy, self.seed

        def table(rows, name):
            init = keras.initializers.RandomUniform(-0.1, 0.1, seed=weight_seed(seed, name))
            return keras.layers.Embedding(rows, embedding_dim, name=name, dtype=dtype, embeddings_initializer=init)

        self.unigrams = table(vocab_size, "unigrams")
        self.bigrams = table(bigram_buckets, "bigrams")
        self.pool = MaskedMeanPool(name="mean_pool", dtype=dtype)
        self.drop = keras.layers.Dropout(self.dropout, seed=seed, name="dropout", dtype=dtype)
        self.dense = [keras.layers.Dense(units, activation="tanh", name=f"dense{k + 1}", dtype=dtype,
                                         kernel_initializer=glorot(seed, f"dense{k + 1}"))
                      for k in range(num_layers)]

    @property
    def code_dim(self) -> int:
        return self.units

    def build_encoder(self):
        self.unigrams.build((None, None))
        self.bigrams.build((None, None))
        size = 2 * self.embedding_dim
        for layer in self.dense:
            layer.build((None, size))
            size = self.units

    def bigram_ids(self, ids):
        """Hashed bigram ids [B, T - 1] of ids [B, T]: 0 where either token is padding."""
        a, b = ops.cast(ids[:, :-1], "int64"), ops.cast(ids[:, 1:], "int64")
        hashed = 1 + (a * self.vocab_size + b) % (self.bigram_buckets - 1)
        return ops.cast(ops.where(ops.logical_and(ops.not_equal(a, PAD), ops.not_equal(b, PAD)), hashed, 0), "int32")

    def encode(self, ids, mask, training=False):
        bigrams = self.bigram_ids(ids)
        x = ops.concatenate([self.pool(self.unigrams(ids), mask=mask),
                             self.pool(self.bigrams(bigrams), mask=ops.not_equal(bigrams, PAD))], axis=-1)
        x = self.drop(x, training=training)
        for layer in self.dense:
            x = layer(x)
        return x

    def get_config(self):
        return {**super().get_config(), "embedding_dim": self.embedding_dim, "bigram_buckets": self.bigram_buckets,
                "units": self.units, "num_layers": self.num_layers, "dropout": self.dropout}


def example_ids(model, batch, rng):
    """Random right-padded ids [batch, 9] of the model's vocabulary (the registry sweep's input):
    row i has 9 - (i mod 4) real tokens."""
    import numpy as np

    ids = rng.integers(1, model.vocab_size, size=(batch, 9)).astype("int32")
    for i in range(batch):
        ids[i, 9 - i % 4:] = PAD
    return ids


_SMOKE = dict(vocab_size=16, embedding_dim=4, units=4)
# Conneau et al. 2017 use 2 x 2048 units on 300-d GloVe; sized here for CPU training.
register_model("infersent_encoder", smoke=_SMOKE, example_input=example_ids, embedding_dim=128, units=256)(
    InferSentEncoder)
# Cer et al. 2018's DAN over uni- and bigrams; 2 tanh layers, 2^16 hashed bigram rows.
register_model("unisent_encoder", smoke=dict(_SMOKE, bigram_buckets=32), example_input=example_ids,
               embedding_dim=128, bigram_buckets=65536, units=256, num_layers=2)(UniSentEncoder)

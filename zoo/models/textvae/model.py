"""The text VAEs of Semeniuta's dissertation ("Recurrent Neural Networks for Discriminative and
Generative Learning", 2019) ch. 5 §5.3 = "A Hybrid Convolutional Variational Autoencoder for Text
Generation" (Semeniuta, Severyn and Barth, 2017), and the LSTM-VAE baseline they compare with
(Bowman et al. 2016, "Generating Sentences from a Continuous Space").

Every model reads a fixed-length window of `length` bytes (int32 ids 0..255; 0, the NUL byte,
ends a text shorter than the window and fills the rest) and has

- `encode(ids)` -> (mu, log sigma^2), each [batch, latent_dim]: the posterior q(z|x);
- `decode(z, ids)` -> {"logits": [B, L, 256], "aux": [B, L, 256] or absent}: teacher-forced
  decoding, position t reading ids[:, :t] only (the historyless decoders read none);
- `generate(z)`: greedy (or sampled) decoding, position by position;
- `call(ids)`: the logits of every decoder head, [batch, heads, L, 256], at a posterior sample
  whose noise is a deterministic function of the input (`content_noise`), so a call is
  reproducible and replica-independent (the evaluation's one-sample bound uses the same noise).

Models (§5.3.3, Figures 5.2 and 5.3):
- `HybridVAE`: convolutional encoder (kernel 3, stride 2, batch norm, ReLU) -> linear mu,
  log sigma^2 -> linear to a short map -> deconvolutions (stride 2, batch norm, ReLU, each
  doubling the length) -> an auxiliary historyless head (J_aux, Eq. 5.3.2) and a recurrent
  decoder reading the deconvolution features next to the previous character: a layer-normalised
  LSTM (`decoder="lstm"`, Figure 5.3a) or a ByteNet-like stack of masked gated convolutions of
  kernel 2 without dilation (`decoder="bytenet"`, Figure 5.3b; N layers see the N + 1 previous
  characters). `decoder="none"` is the fully feed-forward historyless VAE of Figure 5.2.
- `LSTMVAE`: LSTM encoder, z entering only through the decoder's initial state, word (input)
  dropout p on the decoder's inputs; p = 1 drops every input in training and in inference, the
  historyless LSTM of §5.5 ("conditioned only on z and, implicitly, on the number of tokens
  generated so far").

Initialisation as the authors' code: every kernel uniform in [-init_scale, init_scale]
(0.1), each weight its own initializer object (and seed, when the model is seeded).
"""
from __future__ import annotations

import functools

import numpy as np
import keras
import tensorflow as tf
from keras import ops

from zoo.eval.decoding import check_sampler, filter_log_probs
from zoo.layers.checks import check_positive_int
from zoo.layers.dropout_rnn import DropoutLSTMCell, DropoutRNN
from zoo.layers.initializers import uniform, weight_seed
from zoo.registry import register_model, serializable

VOCAB = 256
END = 0          # the NUL byte: ends a text shorter than the window and pads it
DECODERS = ("lstm", "bytenet", "none")
UNKNOWN = VOCAB  # the LSTM-VAE decoder's input symbol for a dropped byte (word dropout)
_PRIME = 2 ** 31 - 1   # MINSTD modulus: the content hash stays below 2^31, products below 2^62


def _example_ids(model, batch, rng):
    """Random windows of printable bytes, the second half of each row's last quarter ended by END."""
    ids = rng.integers(32, 127, size=(batch, model.length)).astype("int32")
    ids[:, model.length * 3 // 4:] = END
    return ids


def content_noise(ids, dim: int):
    """Standard normal noise [B, dim] that is a function of each row of `ids` alone (a hash of
    the row, Box-Muller of two hashed uniforms per unit): the same for a row whatever
    batch or replica it is in, so evaluating with it is reproducible and the same on any number
    of replicas. Not for training, where every step needs fresh noise."""
    length = ids.shape[1]
    weights = np.array([pow(48271, t + 1, _PRIME) for t in range(length)], np.int64)
    row = tf.math.floormod(tf.reduce_sum((tf.cast(ids, tf.int64) + 2) * weights, axis=1), _PRIME)

    def uniform01(offset):
        # A 32-bit integer hash of (row, unit, offset) (xor-shift-multiply rounds), so units of
        # one row are not linear functions of each other; every product stays below 2^59.
        s = tf.bitwise.bitwise_and(row[:, None] + np.arange(dim, dtype=np.int64)[None] * 2654435761 + offset,
                                   0xFFFFFFFF)
        for _ in range(3):
            s = tf.bitwise.bitwise_and((tf.bitwise.bitwise_xor(s, tf.bitwise.right_shift(s, 16))) * 0x45D9F3B,
                                       0xFFFFFFFF)
        s = tf.bitwise.bitwise_xor(s, tf.bitwise.right_shift(s, 16))
        return (tf.cast(s, tf.float64) + 0.5) / 2.0 ** 32

    u1, u2 = uniform01(1013), uniform01(500009)
    noise = tf.sqrt(-2.0 * tf.math.log(u1)) * tf.cos(2.0 * np.pi * u2)
    return tf.cast(noise, tf.float32)


def kl_to_prior(mu, logvar):
    """KL(N(mu, diag exp(logvar)) || N(0, I)) per row, in nats (closed form), float32.

    Computed in float64 as 0.5 * sum(expm1(logvar) - logvar + mu^2): near the prior (the start of
    training, a collapsed posterior) exp(logvar) - 1 - logvar cancels to a few float32 ulps,
    which made the KL of one batch differ with how it was split over replicas."""
    mu, logvar = tf.cast(mu, tf.float64), tf.cast(logvar, tf.float64)
    kl = 0.5 * tf.reduce_sum(tf.math.expm1(logvar) - logvar + tf.square(mu), axis=-1)
    return tf.cast(kl, tf.float32)


class _TextVAE(keras.Model):
    """What the text VAEs share: the posterior sample, the heads axis of `call`, generation."""

    def __init__(self, length=64, latent_dim=50, init_scale=0.1, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.length = check_positive_int("length", length)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        if not (isinstance(init_scale, (int, float)) and init_scale > 0):
            raise ValueError(f"init_scale must be a positive number, got {init_scale!r}")
        self.init_scale = float(init_scale)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    historyless = False   # whether the decoder reads no previous character

    @property
    def input_dtype(self):
        return "int32"

    def _init(self, *path):
        return uniform(self.init_scale, self.seed, *path)

    def _dense(self, units, name, activation=None):
        return keras.layers.Dense(units, activation=activation, name=name, dtype=self.dtype_policy,
                                  kernel_initializer=self._init(name, "kernel"))

    @staticmethod
    def previous(ids):
        """The decoder's input at each position: the previous byte, -1 (an all-zero one-hot) first."""
        ids = ops.convert_to_tensor(ids, "int32")
        return ops.concatenate([ops.full((ops.shape(ids)[0], 1), -1, "int32"), ids[:, :-1]], axis=1)

    # -- the posterior ---------------------------------------------------------------------------
    def posterior_sample(self, ids, mu, logvar, noise="sample"):
        """z = mu + sigma * eps: eps fresh ("sample", training), `content_noise` ("content") or 0."""
        if noise == "sample":
            eps = keras.random.normal(ops.shape(mu), seed=self.seed_generator, dtype="float32")
        elif noise == "content":
            eps = content_noise(ids, self.latent_dim)
        else:
            return mu
        mu32, lv32 = ops.cast(mu, "float32"), ops.cast(logvar, "float32")
        return ops.cast(mu32 + ops.exp(0.5 * lv32) * eps, self.compute_dtype)

    def forward(self, ids, training=False, noise=None):
        """{"mu", "logvar", "z", "logits", and "aux" where the model has the auxiliary head}.
        noise: "sample" (default in training), "content" (default otherwise) or "mean"."""
        ids = ops.convert_to_tensor(ids, "int32")
        noise = noise or ("sample" if training else "content")
        mu, logvar = self.encode(ids, training=training)
        z = self.posterior_sample(ids, mu, logvar, noise)
        out = self.decode(z, ids, training=training)
        return {"mu": mu, "logvar": logvar, "z": z, **out}

    def call(self, ids, training=False):
        out = self.forward(ids, training=training)
        heads = [out["logits"]] + ([out["aux"]] if "aux" in out else [])
        return ops.stack(heads, axis=1)

    @property
    def heads(self) -> int:
        return 1

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.heads, input_shape[1], VOCAB)

    # -- generation ------------------------------------------------------------------------------
    def generate(self, z, temperature=0.0, top_k=0, top_p=1.0, seed=0):
        """Byte ids [B, length] decoded from codes z [B, latent_dim], position by position: each
        step reruns the teacher-forced decoder on what was generated so far (O(L^2) work, the
        same code for every decoder; the decoders are causal, so position t reads the bytes
        already chosen). temperature 0: greedy; > 0: sampled (stateless, from `seed`) with the
        zoo's sampler settings (`zoo.eval.decoding.filter_log_probs`: temperature, top-k, top-p)."""
        if not tf.is_tensor(temperature) and temperature:
            check_sampler(temperature, top_k, top_p, seed=seed)
        z = ops.cast(ops.convert_to_tensor(z), self.compute_dtype)
        batch = tf.shape(z)[0]
        L = self.length
        ids = tf.zeros([batch, L], tf.int32)
        pick = functools.partial(self._pick, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)
        if self.historyless:
            logits = self.decode(z, ids)["logits"]
            flat = pick(tf.reshape(logits, [-1, VOCAB]), t=tf.constant(0))
            return tf.reshape(flat, [batch, L])

        def body(t, ids):
            chosen = pick(self.decode(z, ids)["logits"][:, t], t=t)
            return t + 1, ids + tf.one_hot(t, L, dtype=tf.int32)[None] * chosen[:, None]

        _, ids = tf.while_loop(lambda t, ids: t < L, body, (tf.constant(0), ids),
                               maximum_iterations=L)
        return ids

    @staticmethod
    def _pick(logits, *, t, temperature, top_k, top_p, seed):
        """Byte ids [N] from logits [N, 256]: argmax, or a draw from the filtered distribution."""
        logits = tf.cast(logits, tf.float32)
        greedy = tf.argmax(logits, axis=-1, output_type=tf.int32)
        if not tf.is_tensor(temperature) and not temperature:
            return greedy

        def drawn():
            filtered = filter_log_probs(tf.nn.log_softmax(logits), temperature, top_k, top_p)
            seeds = tf.stack([tf.cast(seed, tf.int32), tf.cast(t, tf.int32)])
            return tf.random.stateless_categorical(filtered, 1, seed=seeds, dtype=tf.int32)[:, 0]

        if tf.is_tensor(temperature):   # a serving input: 0 is greedy, decided at run time
            return tf.cond(temperature > 0, drawn, lambda: greedy)
        return drawn()

    def get_config(self):
        return {**super().get_config(), "length": self.length, "latent_dim": self.latent_dim,
                "init_scale": self.init_scale, "seed": self.seed}


@serializable
class HybridVAE(_TextVAE):
    """The hybrid convolutional-recurrent VAE (§5.3.3, Figures 5.2, 5.3); see the module docstring.

    Args:
        length: the window in bytes; a multiple of 2^len(encoder_channels) and 2^len(decoder_channels).
        latent_dim: size of z (the authors' code: 50 on characters).
        encoder_channels: widths of the stride-2 convolutions (code: [128, 256]; tweets 5 layers).
        decoder_channels: widths of the stride-2 deconvolutions, the last one the features the
            auxiliary head and the recurrent decoder read (code: 200).
        decoder: "lstm" (layer-normalised LSTM of `units`), "bytenet" (`depth` masked gated
            convolutions of `channels`, kernel 2, no dilation) or "none" (historyless).
    """

    def __init__(self, length=64, latent_dim=50, encoder_channels=(128, 256), decoder_channels=(256, 200),
                 decoder="lstm", units=500, depth=3, channels=200, init_scale=0.1, seed=None, **kwargs):
        super().__init__(length=length, latent_dim=latent_dim, init_scale=init_scale, seed=seed, **kwargs)
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {decoder!r}")
        self.encoder_channels = [check_positive_int("encoder_channels", c) for c in encoder_channels]
        self.decoder_channels = [check_positive_int("decoder_channels", c) for c in decoder_channels]
        if not self.encoder_channels or not self.decoder_channels:
            raise ValueError("encoder_channels and decoder_channels need at least one layer each")
        for what, layers in (("encoder_channels", self.encoder_channels), ("decoder_channels", self.decoder_channels)):
            if length % 2 ** len(layers):
                raise ValueError(f"length {length} must be a multiple of 2^{len(layers)} "
                                 f"(one halving or doubling per layer of {what})")
        self.decoder = decoder
        self.units = check_positive_int("units", units)
        self.depth = check_positive_int("depth", depth)
        self.channels = check_positive_int("channels", channels)
        self.historyless = decoder == "none"
        dtype = self.dtype_policy

        def norm(name):
            # synchronized: the statistics of the global batch, all-reduced over the replicas, so
            # every replica's copy of the moving averages gets the same update (unsynchronized,
            # each replica averaged its own half-batch and the copies drifted apart).
            return keras.layers.BatchNormalization(name=name, dtype=dtype, synchronized=True)

        self.enc_convs, self.enc_norms = [], []
        for i, c in enumerate(self.encoder_channels):
            self.enc_convs.append(keras.layers.Conv1D(
                c, 3, strides=2, padding="same", use_bias=False, name=f"enc_conv{i}", dtype=dtype,
                kernel_initializer=self._init(f"enc_conv{i}", "kernel")))
            self.enc_norms.append(norm(f"enc_norm{i}"))
        self.to_mu = self._dense(latent_dim, "mu")
        self.to_logvar = self._dense(latent_dim, "logvar")
        self.map_length = length // 2 ** len(self.decoder_channels)
        self.map_channels = self.encoder_channels[-1]
        self.to_map = self._dense(self.map_length * self.map_channels, "to_map", activation="relu")
        self.dec_convs, self.dec_norms = [], []
        for i, c in enumerate(self.decoder_channels):
            self.dec_convs.append(keras.layers.Conv1DTranspose(
                c, 3, strides=2, padding="same", use_bias=False, name=f"deconv{i}", dtype=dtype,
                kernel_initializer=self._init(f"deconv{i}", "kernel")))
            self.dec_norms.append(norm(f"deconv_norm{i}"))
        self.aux_head = self._dense(VOCAB, "aux_head")
        if decoder == "lstm":
            cell = DropoutLSTMCell(units, layer_norm=True, init_scale=self.init_scale,
                                   seed=weight_seed(seed, "lstm"), name="lstm_cell", dtype=dtype)
            self.rnn = DropoutRNN(cell, return_sequences=True, name="lstm", dtype=dtype)
        elif decoder == "bytenet":
            self.project = self._dense(channels, "project")
            self.masked = [keras.layers.Conv1D(2 * channels, 2, padding="causal", name=f"masked{i}",
                                               dtype=dtype, kernel_initializer=self._init(f"masked{i}", "kernel"))
                           for i in range(depth)]
            self.mix = [self._dense(channels, f"mix{i}") for i in range(depth)]
        if decoder != "none":
            self.head = self._dense(VOCAB, "head")

    @property
    def heads(self) -> int:
        return 1 if self.historyless else 2

    def build(self, input_shape=None):
        L = self.length
        shape = (None, L, VOCAB)
        for conv, bn in zip(self.enc_convs, self.enc_norms):
            conv.build(shape)
            shape = (None, shape[1] // 2, conv.filters)
            bn.build(shape)
        flat = shape[1] * shape[2]
        self.to_mu.build((None, flat))
        self.to_logvar.build((None, flat))
        self.to_map.build((None, self.latent_dim))
        shape = (None, self.map_length, self.map_channels)
        for conv, bn in zip(self.dec_convs, self.dec_norms):
            conv.build(shape)
            shape = (None, shape[1] * 2, conv.filters)
            bn.build(shape)
        features = self.decoder_channels[-1]
        self.aux_head.build((None, L, features))
        if self.decoder == "lstm":
            self.rnn.build((None, L, features + VOCAB))
            self.head.build((None, L, self.units))
        elif self.decoder == "bytenet":
            self.project.build((None, L, features + VOCAB))
            for conv, mix in zip(self.masked, self.mix):
                conv.build((None, L, self.channels))
                mix.build((None, L, self.channels))
            self.head.build((None, L, self.channels))
        self.built = True

    def encode(self, ids, training=False):
        x = ops.one_hot(ops.convert_to_tensor(ids, "int32"), VOCAB, dtype=self.compute_dtype)
        for conv, bn in zip(self.enc_convs, self.enc_norms):
            x = ops.relu(bn(conv(x), training=training))
        x = ops.reshape(x, (-1, x.shape[1] * x.shape[2]))
        return self.to_mu(x), self.to_logvar(x)

    def features(self, z, training=False):
        """The deconvolution stack's output [B, L, decoder_channels[-1]] for codes z."""
        x = ops.reshape(self.to_map(z), (-1, self.map_length, self.map_channels))
        for conv, bn in zip(self.dec_convs, self.dec_norms):
            x = ops.relu(bn(conv(x), training=training))
        return x

    def decode(self, z, ids, training=False):
        h = self.features(z, training=training)
        aux = self.aux_head(h)
        if self.historyless:
            return {"logits": aux}
        prev = ops.one_hot(self.previous(ids), VOCAB, dtype=self.compute_dtype)
        x = ops.concatenate([h, prev], axis=-1)
        if self.decoder == "lstm":
            y = self.rnn(x, training=training)
        else:
            y = self.project(x)
            for conv, mix in zip(self.masked, self.mix):
                a, b = ops.split(conv(y), 2, axis=-1)
                y = y + mix(ops.tanh(a) * ops.sigmoid(b))   # gated, residual (ByteNet-like)
        return {"logits": self.head(y), "aux": aux}

    def get_config(self):
        return {**super().get_config(), "encoder_channels": list(self.encoder_channels),
                "decoder_channels": list(self.decoder_channels), "decoder": self.decoder,
                "units": self.units, "depth": self.depth, "channels": self.channels}


@serializable
class LSTMVAE(_TextVAE):
    """The LSTM-VAE of Bowman et al. (2016) as §5.5 compares with: a layer-normalised LSTM
    encoder (its last state -> mu, log sigma^2), z entering the layer-normalised LSTM decoder only
    through its initial state (h0 = tanh(W z + b), c0 = 0), word dropout `word_dropout` on the
    decoder's inputs (a dropped input is the unknown symbol, an input of its own, as Bowman et
    al. replace dropped words by <unk>). word_dropout 1 is the historyless
    LSTM: every input dropped, in training and in inference."""

    def __init__(self, length=64, latent_dim=100, units=500, word_dropout=0.0, init_scale=0.1, seed=None,
                 **kwargs):
        super().__init__(length=length, latent_dim=latent_dim, init_scale=init_scale, seed=seed, **kwargs)
        if not (isinstance(word_dropout, (int, float)) and 0.0 <= word_dropout <= 1.0):
            raise ValueError(f"word_dropout must be a number in [0, 1], got {word_dropout!r}")
        self.units = check_positive_int("units", units)
        self.word_dropout = float(word_dropout)
        self.historyless = self.word_dropout == 1.0
        dtype = self.dtype_policy

        def rnn(name):
            cell = DropoutLSTMCell(units, layer_norm=True, init_scale=self.init_scale,
                                   seed=weight_seed(seed, name), name=f"{name}_cell", dtype=dtype)
            return DropoutRNN(cell, return_sequences=name == "decoder", name=name, dtype=dtype)

        self.encoder_rnn = rnn("encoder")
        self.to_mu = self._dense(latent_dim, "mu")
        self.to_logvar = self._dense(latent_dim, "logvar")
        self.to_state = self._dense(units, "to_state", activation="tanh")
        self.decoder_rnn = rnn("decoder")
        self.head = self._dense(VOCAB, "head")

    def build(self, input_shape=None):
        L = self.length
        self.encoder_rnn.build((None, L, VOCAB))
        for d in (self.to_mu, self.to_logvar):
            d.build((None, self.units))
        self.to_state.build((None, self.latent_dim))
        self.decoder_rnn.build((None, L, VOCAB + 1))
        self.head.build((None, L, self.units))
        self.built = True

    def encode(self, ids, training=False):
        x = ops.one_hot(ops.convert_to_tensor(ids, "int32"), VOCAB, dtype=self.compute_dtype)
        h = self.encoder_rnn(x, training=training)
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z, ids, training=False):
        prev = self.previous(ids)
        if self.historyless:
            prev = ops.full(ops.shape(prev), UNKNOWN, "int32")
        elif training and self.word_dropout > 0:
            keep = keras.random.uniform(ops.shape(prev), seed=self.seed_generator) >= self.word_dropout
            prev = ops.where(keep, prev, UNKNOWN)
        prev = ops.one_hot(prev, VOCAB + 1, dtype=self.compute_dtype)
        h0 = self.to_state(z)
        y = self.decoder_rnn(prev, initial_state=[h0, ops.zeros_like(h0)], training=training)
        return {"logits": self.head(y)}

    def get_config(self):
        return {**super().get_config(), "units": self.units, "word_dropout": self.word_dropout}


# -- variants ------------------------------------------------------------------------------------
_HYBRID_SMOKE = dict(length=16, latent_dim=4, encoder_channels=[8, 8], decoder_channels=[8, 8], units=8,
                     channels=8, depth=2)
_LSTM_SMOKE = dict(length=16, latent_dim=4, units=8)
_kw = dict(example_input=_example_ids)
register_model("hybrid_vae", smoke=_HYBRID_SMOKE, **_kw, decoder="lstm")(HybridVAE)
register_model("hybrid_vae_bytenet", smoke=_HYBRID_SMOKE, **_kw, decoder="bytenet")(HybridVAE)
register_model("historyless_vae", smoke=_HYBRID_SMOKE, **_kw, decoder="none")(HybridVAE)
# The historyless LSTM of §5.5 is lstm_vae with word_dropout 1 (recipes/textvae/lstm_historyless.yaml).
register_model("lstm_vae", smoke=_LSTM_SMOKE, **_kw, latent_dim=100)(LSTMVAE)

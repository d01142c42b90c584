"""The text GANs compared in S. Semeniuta's dissertation ("Recurrent Neural Networks for
Discriminative and Generative Learning", 2019) ch. 5 §5.4 (Eq. 5.4.1, Figure 5.4), each a
generator and a discriminator in one Keras model, and the maximum-likelihood LSTM language model
with the same generator (§5.6.4: "we fix the generator architecture to be a one-layer LSTM").

Sentences are rows of `max_length` token ids: 0 = <eos> (the end of a sentence, and the padding
after it; also the beginning-of-sentence input), 1 = <unk>, then the tokenizer's pieces. A
position is scored up to and including the first <eos>.

Models (`method`):
- `mle`: the LSTM generator alone, trained by maximum likelihood (the LM baseline).
- `seqgan_reinforce`, `seqgan_rollout`: LSTM generator, per-sequence LSTM discriminator;
  `seqgan_step`: per-step LSTM discriminator, D(y_1:t) after every token (§5.4.2).
- `leakgan_leak`, `leakgan_noleak`, `leakgan_mixed` (§5.4.2, Figure 5.4): per-step LSTM
  discriminator; the next-token distribution is a one-layer MLP over the discriminator's state
  after the prefix (leak: the generator has no recurrent state of its own), over the
  generator's LSTM state (noleak), or over both (mixed). The discriminator's weights are the
  discriminator's: the generator's updates never change them (`generator_weights` excludes them).
- `wgan_conv_lstm` (§5.4.1): an LSTM generator whose initial state comes from noise and which
  reads its own whole softmax output as the next input (continuous, differentiable end to end);
  `wgan_conv_deconv` (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs", §5 / its
  language model): noise -> linear -> a stack of stride-2 transposed 1-D convolutions -> a softmax
  per position. Both are judged by a critic of 1-D convolutions over one-hot real / softmax fake
  rows (WGAN-GP, Eq. 5.4.1).

The recurrent parts are written out (`_lstm`) over explicit weight lists, so a copy of the
generator's weights (SeqGAN's delayed rollout network, a `zoo.training.hooks.MovingAverage`)
runs through the same code (`sample(..., weights=...)`).

`call(ids)`: [batch, k] columns that reach every trainable weight: the teacher-forced
log-likelihood of each row (models with an explicit p(y_t | y_<t); for Conv-Deconv the
per-position softmax of G at a fixed noise), the discriminator's mean score of the row, and for
the WGANs the critic's score of G at a fixed noise.
"""
from __future__ import annotations

import numpy as np
import keras
import tensorflow as tf

from zoo.eval.decoding import filter_log_probs
from zoo.layers.checks import check_positive_int
from zoo.layers.initializers import weight_seed
from zoo.registry import register_model, serializable

EOS, UNK = 0, 1
# method -> (generator, generator head features, discriminator)
METHODS = {
    "mle": ("lstm", "g", None),
    "seqgan_reinforce": ("lstm", "g", "sequence"),
    "seqgan_step": ("lstm", "g", "step"),
    "seqgan_rollout": ("lstm", "g", "sequence"),
    "leakgan_leak": ("none", "d", "step"),
    "leakgan_noleak": ("lstm", "g", "step"),
    "leakgan_mixed": ("lstm", "gd", "step"),
    "wgan_conv_lstm": ("soft_lstm", "g", "critic"),
    "wgan_conv_deconv": ("deconv", None, "critic"),
}
DISCRETE = tuple(m for m, (g, _, d) in METHODS.items() if g in ("lstm", "none"))
CONTINUOUS = ("wgan_conv_lstm", "wgan_conv_deconv")


def eos_mask(ids):
    """float [B, L]: 1 up to and including each row's first <eos>, 0 after it."""
    eos = tf.cast(tf.equal(ids, EOS), tf.int32)
    return tf.cast(tf.equal(tf.cumsum(eos, axis=1, exclusive=True), 0), tf.float32)


def pad_after_eos(ids):
    """ids with every position after a row's first <eos> set to <eos>."""
    return tf.where(eos_mask(ids) > 0, ids, tf.zeros_like(ids))


def _lstm(x, h, c, kernel, recurrent, bias):
    z = tf.matmul(x, kernel) + tf.matmul(h, recurrent) + bias
    i, f, g, o = tf.split(z, 4, axis=-1)
    c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
    return tf.sigmoid(o) * tf.tanh(c), c


@serializable
class TextGAN(keras.Model):
    """A text GAN of §5.4 (or the MLE LM); see the module docstring.

    Args:
        method: one of `METHODS`.
        vocab_size: tokens incl. <eos> and <unk> (set from the tokenizer).
        max_length: tokens per row, the sentence and its <eos> included (the longest sample).
        embedding_dim, units: the generator's input embedding and LSTM size.
        mlp_units: hidden units of the LeakGAN generators' one-layer MLP.
        disc_embedding_dim, disc_units: the LSTM discriminator's (or the critic's input projection's).
        noise_dim: the WGAN generators' noise.
        deconv_channels: Conv-Deconv's transposed convolutions (each doubles the length, so
            max_length must be divisible by 2 ** len(deconv_channels)).
        critic_channels, kernel_size: the critic's 1-D convolutions.
        seed: seed of the initialisers (each weight its own draw).
    """

    def __init__(self, method="seqgan_reinforce", vocab_size=4000, max_length=32, embedding_dim=64,
                 units=128, mlp_units=128, disc_embedding_dim=64, disc_units=128, noise_dim=64,
                 deconv_channels=(128, 128), critic_channels=(128, 128), kernel_size=5, seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        if method not in METHODS:
            raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
        for name, value in (("vocab_size", vocab_size), ("max_length", max_length),
                            ("embedding_dim", embedding_dim), ("units", units), ("mlp_units", mlp_units),
                            ("disc_embedding_dim", disc_embedding_dim), ("disc_units", disc_units),
                            ("noise_dim", noise_dim), ("kernel_size", kernel_size)):
            check_positive_int(name, value)
        if vocab_size < 3:
            raise ValueError(f"vocab_size must be at least 3 (<eos>, <unk> and a token), got {vocab_size}")
        deconv_channels, critic_channels = list(deconv_channels), list(critic_channels)
        for name, value in (("deconv_channels", deconv_channels), ("critic_channels", critic_channels)):
            if not value:
                raise ValueError(f"{name} must name at least one layer")
            for c in value:
                check_positive_int(name, c)
        if method == "wgan_conv_deconv" and max_length % (2 ** len(deconv_channels)):
            raise ValueError(f"max_length ({max_length}) must be divisible by 2 ** {len(deconv_channels)} "
                             f"(each of the {len(deconv_channels)} transposed convolutions doubles the length)")
        self.method, self.vocab_size, self.max_length = method, vocab_size, max_length
        self.embedding_dim, self.units, self.mlp_units = embedding_dim, units, mlp_units
        self.disc_embedding_dim, self.disc_units, self.noise_dim = disc_embedding_dim, disc_units, noise_dim
        self.deconv_channels, self.critic_channels = deconv_channels, critic_channels
        self.kernel_size, self.seed = kernel_size, seed
        self.generator_kind, self.features, self.discriminator_kind = METHODS[method]
        self._gen, self._disc = [], []

    # -- weights ---------------------------------------------------------------------------------
    def _w(self, owner: list, name, shape, init="glorot_uniform"):
        seed = weight_seed(self.seed, name)
        inits = {"glorot_uniform": keras.initializers.GlorotUniform(seed=seed),
                 "orthogonal": keras.initializers.Orthogonal(seed=seed),
                 "normal": keras.initializers.RandomNormal(stddev=0.1, seed=seed),
                 "zeros": keras.initializers.Zeros()}
        w = self.add_weight(name=name, shape=shape, initializer=inits[init])
        owner.append(w)
        return w

    def _lstm_weights(self, owner, prefix, inputs, units):
        kernel = self._w(owner, f"{prefix}_kernel", (inputs, 4 * units))
        recurrent = self._w(owner, f"{prefix}_recurrent", (units, 4 * units), "orthogonal")
        # Forget-gate bias 1 (Jozefowicz et al. 2015), the usual LSTM start.
        bias = self.add_weight(name=f"{prefix}_bias", shape=(4 * units,),
                               initializer=keras.initializers.Constant(
                                   np.r_[np.zeros(units), np.ones(units), np.zeros(2 * units)]))
        owner.append(bias)
        return kernel, recurrent, bias

    def build(self, input_shape=None):
        V, E, H = self.vocab_size, self.embedding_dim, self.units
        g, d = self._gen, self._disc
        if self.generator_kind in ("lstm", "soft_lstm"):
            self.g_embedding = self._w(g, "g_embedding", (V, E), "normal")
            self.g_lstm = self._lstm_weights(g, "g_lstm", E, H)
        if self.generator_kind == "soft_lstm":
            self.g_noise = (self._w(g, "g_noise_kernel", (self.noise_dim, 2 * H)),
                            self._w(g, "g_noise_bias", (2 * H,), "zeros"))
        if self.generator_kind == "deconv":
            n0, c0 = self.max_length // 2 ** len(self.deconv_channels), self.deconv_channels[0]
            self.g_noise = (self._w(g, "g_noise_kernel", (self.noise_dim, n0 * c0)),
                            self._w(g, "g_noise_bias", (n0 * c0,), "zeros"))
            self.g_deconv = []
            inputs = c0
            for k, c in enumerate(self.deconv_channels):
                self.g_deconv.append((self._w(g, f"g_deconv{k + 1}_kernel", (self.kernel_size, c, inputs)),
                                      self._w(g, f"g_deconv{k + 1}_bias", (c,), "zeros")))
                inputs = c
            self.g_out = (self._w(g, "g_out_kernel", (inputs, V)), self._w(g, "g_out_bias", (V,), "zeros"))
        if self.discriminator_kind in ("sequence", "step"):
            self.d_embedding = self._w(d, "d_embedding", (V, self.disc_embedding_dim), "normal")
            self.d_lstm = self._lstm_weights(d, "d_lstm", self.disc_embedding_dim, self.disc_units)
            self.d_out = (self._w(d, "d_out_kernel", (self.disc_units, 1)), self._w(d, "d_out_bias", (1,), "zeros"))
        if self.discriminator_kind == "critic":
            self.c_embedding = self._w(d, "c_embedding", (V, self.disc_embedding_dim))
            self.c_conv = []
            inputs = self.disc_embedding_dim
            for k, c in enumerate(self.critic_channels):
                self.c_conv.append((self._w(d, f"c_conv{k + 1}_kernel", (self.kernel_size, inputs, c)),
                                    self._w(d, f"c_conv{k + 1}_bias", (c,), "zeros")))
                inputs = c
            # No output bias: the critic's losses (Eq. 5.4.1) are differences of its scores and
            # gradients of them, so a bias would never get a gradient.
            self.c_out = self._w(d, "c_out_kernel", (self.max_length * inputs, 1))
        if self.generator_kind in ("lstm", "none"):
            width = {"g": H, "d": self.disc_units, "gd": H + self.disc_units}[self.features]
            if self.method.startswith("leakgan"):
                self.g_mlp = (self._w(g, "g_mlp_kernel", (width, self.mlp_units)),
                              self._w(g, "g_mlp_bias", (self.mlp_units,), "zeros"))
                width = self.mlp_units
            self.g_head = (self._w(g, "g_head_kernel", (width, V)), self._w(g, "g_head_bias", (V,), "zeros"))
        if self.generator_kind == "soft_lstm":
            self.g_head = (self._w(g, "g_head_kernel", (H, V)), self._w(g, "g_head_bias", (V,), "zeros"))
        self.built = True

    def generator_weights(self) -> list:
        """The generator's variables: what its updates (MLE or adversarial) change."""
        if not self.built:
            self.build()
        return list(self._gen)

    def discriminator_weights(self) -> list:
        if not self.built:
            self.build()
        return list(self._disc)

    @property
    def input_dtype(self):
        return "int32"   # token ids

    @property
    def explicit(self) -> bool:
        """Whether the generator gives p(y_t | y_<t) (a log-likelihood of real text)."""
        return self.generator_kind in ("lstm", "none", "soft_lstm")

    def _cast(self, v):
        """A weight in the compute dtype (the weights stay float32 under a mixed policy)."""
        return tf.cast(v, self.compute_dtype)

    # -- the discriminator -----------------------------------------------------------------------
    def _d_inputs(self, x, table):
        """Embedded rows: ids [B, L] (a lookup) or distributions [B, L, V] (a matmul)."""
        if x.dtype.is_integer:
            return tf.gather(table, x)
        return tf.einsum("blv,ve->ble", tf.cast(x, table.dtype), table)

    def disc_states(self, x, weights=None):
        """The LSTM discriminator's hidden states [B, L + 1, Hd] over <eos> (the start) and then the
        row: state t has read the first t tokens."""
        table, kernel, recurrent, bias = (self._cast(v) for v in (weights or (self.d_embedding, *self.d_lstm)))
        emb = self._d_inputs(tf.convert_to_tensor(x), table)
        batch = tf.shape(emb)[0]
        start = tf.gather(table, tf.zeros([batch], tf.int32))
        h = c = tf.zeros([batch, self.disc_units], emb.dtype)
        h, c = _lstm(start, h, c, kernel, recurrent, bias)
        states = [h]
        for t in range(self.max_length):
            h, c = _lstm(emb[:, t], h, c, kernel, recurrent, bias)
            states.append(h)
        return tf.stack(states, axis=1)

    def discriminate(self, x):
        """Logits of "real" (float32, whatever the compute dtype: the losses and rewards are
        float32): per step [B, L] (D(y_1:t) at column t - 1) for a per-step discriminator, [B]
        per sequence (after the whole padded row) otherwise."""
        if self.discriminator_kind == "critic":
            return self.critic(x)
        h = self.disc_states(x)
        kernel, bias = (self._cast(v) for v in self.d_out)
        if self.discriminator_kind == "step":
            return tf.cast(tf.squeeze(tf.matmul(h[:, 1:], kernel), -1) + bias[0], tf.float32)
        return tf.cast(tf.squeeze(tf.matmul(h[:, -1], kernel), -1) + bias[0], tf.float32)

    def critic(self, x):
        """The WGAN critic's score [B] (float32) of ids [B, L] or distributions [B, L, V]."""
        x = tf.convert_to_tensor(x)
        if x.dtype.is_integer:
            x = tf.one_hot(x, self.vocab_size, dtype=self.compute_dtype)
        y = self._d_inputs(x, self._cast(self.c_embedding))
        for kernel, bias in self.c_conv:
            y = tf.nn.leaky_relu(tf.nn.conv1d(y, self._cast(kernel), 1, "SAME") + self._cast(bias), 0.2)
        flat = tf.reshape(y, [tf.shape(y)[0], self.max_length * self.critic_channels[-1]])
        return tf.cast(tf.squeeze(tf.matmul(flat, self._cast(self.c_out)), -1), tf.float32)

    # -- the generator ---------------------------------------------------------------------------
    def _head(self, h_g, h_d, weights):
        """Next-token logits from the generator's features (see `features`)."""
        feats = {"g": lambda: h_g, "d": lambda: h_d, "gd": lambda: tf.concat([h_g, h_d], -1)}[self.features]()
        if self.method.startswith("leakgan"):
            feats = tf.nn.relu(tf.matmul(feats, weights["mlp"][0]) + weights["mlp"][1])
        return tf.matmul(feats, weights["head"][0]) + weights["head"][1]

    def _gen_parts(self, weights=None):
        """The generator's weights by role, from `weights` (a list in `generator_weights` order,
        e.g. a moving-average copy) or the live ones."""
        live = self.generator_weights()
        w = [self._cast(x) for x in (live if weights is None else weights)]
        get = {v.name: x for v, x in zip(live, w)}.get
        parts = {}
        if self.generator_kind in ("lstm", "soft_lstm"):
            parts["embedding"] = get("g_embedding")
            parts["lstm"] = (get("g_lstm_kernel"), get("g_lstm_recurrent"), get("g_lstm_bias"))
        if self.method.startswith("leakgan"):
            parts["mlp"] = (get("g_mlp_kernel"), get("g_mlp_bias"))
        if get("g_head_kernel") is not None:
            parts["head"] = (get("g_head_kernel"), get("g_head_bias"))
        return parts

    def teacher_logits(self, ids, weights=None, noise=None):
        """Logits [B, L, V] of every position given the true prefix (<eos> first). The Conv-LSTM
        starts from the state of noise [B, noise_dim] as when it generates (`fixed_noise` when
        None), so maximum likelihood trains the start it samples from."""
        ids = tf.convert_to_tensor(ids, tf.int32)
        if self.generator_kind == "deconv":
            raise ValueError("the Conv-Deconv generator has no next-token distribution to teacher-force")
        w = self._gen_parts(weights)
        batch = tf.shape(ids)[0]
        inputs = tf.concat([tf.zeros([batch, 1], tf.int32), ids[:, :-1]], axis=1)
        h_d_all = self.disc_states(ids) if self.features in ("d", "gd") else None
        if self.generator_kind == "none":
            return self._head(None, h_d_all[:, :-1], w)
        emb = tf.gather(w["embedding"], inputs)
        if self.generator_kind == "soft_lstm" and noise is None:
            noise = self.fixed_noise(batch)
        h, c = self._initial(batch, emb.dtype, noise)
        out = []
        for t in range(self.max_length):
            h, c = _lstm(emb[:, t], h, c, *w["lstm"])
            out.append(h)
        h_g = tf.stack(out, axis=1)
        return self._head(h_g, None if h_d_all is None else h_d_all[:, :-1], w)

    def _initial(self, batch, dtype, noise):
        if self.generator_kind == "soft_lstm" and noise is not None:
            kernel, bias = (self._cast(v) for v in self.g_noise)
            noise = tf.cast(noise, self.compute_dtype)
            return tuple(tf.split(tf.tanh(tf.matmul(noise, kernel) + bias), 2, axis=-1))
        zeros = tf.zeros([batch, self.units], dtype)
        return zeros, zeros

    def log_likelihood(self, ids, weights=None, noise=None):
        """(sum of log p(y_t | y_<t) over each row's scored positions [B], positions [B]); `noise`
        as `teacher_logits` takes it."""
        ids = tf.convert_to_tensor(ids, tf.int32)
        mask = eos_mask(ids)
        if self.generator_kind == "deconv":
            logits = tf.math.log(self.soft_generate(self.fixed_noise(tf.shape(ids)[0])) + 1e-9)
        else:
            logits = self.teacher_logits(ids, weights, noise)
        logp = -tf.nn.sparse_softmax_cross_entropy_with_logits(labels=ids, logits=tf.cast(logits, tf.float32))
        return tf.reduce_sum(logp * mask, 1), tf.reduce_sum(mask, 1)

    def fixed_noise(self, batch):
        return tf.random.stateless_normal([batch, self.noise_dim], seed=[0, 0])

    def soft_generate(self, noise):
        """The continuous generators' output distributions [B, L, V] from noise [B, noise_dim]."""
        if self.generator_kind == "deconv":
            noise = tf.cast(noise, self.compute_dtype)
            kernel, bias = (self._cast(v) for v in self.g_noise)
            n0 = self.max_length // 2 ** len(self.deconv_channels)
            y = tf.reshape(tf.nn.relu(tf.matmul(noise, kernel) + bias), [-1, n0, self.deconv_channels[0]])
            for kernel, bias in self.g_deconv:
                batch, length = tf.shape(y)[0], tf.shape(y)[1]
                y = tf.nn.conv1d_transpose(y, self._cast(kernel), tf.stack([batch, 2 * length, kernel.shape[1]]),
                                           2, "SAME")
                y = tf.nn.relu(y + self._cast(bias))
            kernel, bias = (self._cast(v) for v in self.g_out)
            return tf.nn.softmax(tf.cast(tf.einsum("blc,cv->blv", y, kernel) + bias, tf.float32))
        if self.generator_kind != "soft_lstm":
            raise ValueError(f"{self.method} has a discrete generator; use `sample`")
        w = self._gen_parts()
        noise = tf.cast(noise, self.compute_dtype)
        batch = tf.shape(noise)[0]
        h, c = self._initial(batch, noise.dtype, noise)
        x = tf.gather(w["embedding"], tf.zeros([batch], tf.int32))
        out = []
        for _ in range(self.max_length):
            h, c = _lstm(x, h, c, *w["lstm"])
            p = tf.nn.softmax(self._head(h, None, w))
            out.append(tf.cast(p, tf.float32))
            x = tf.matmul(p, w["embedding"])   # the whole softmax is the next input (§5.4.1)
        return tf.stack(out, axis=1)

    def sample(self, batch, seed, temperature=1.0, weights=None, prefix=None, prefix_length=None,
               top_k=0, top_p=1.0):
        """Token ids [B, L] (after a row's first <eos>, <eos>; the last position is always <eos>,
        so a sentence has at most L - 1 pieces, as the data's) and their log-probabilities [B, L].

        Discrete generators sample p(y_t | y_<t) / temperature with stateless random numbers
        from `seed` (int [2]); continuous ones take the argmax of G(z), z from `seed`, at each
        position. `top_k` / `top_p` cut the sampling distribution as `zoo.eval.decoding` does
        (the returned log-probabilities stay the model's own). `prefix` [B, L] with
        `prefix_length` [B]: positions < prefix_length copy the prefix (teacher-forced), the rest
        are sampled (SeqGAN's rollouts). `weights`: another copy of the generator's weights (the
        rollout network)."""
        seed = tf.cast(seed, tf.int64)
        if self.generator_kind in ("deconv", "soft_lstm"):
            noise = tf.random.stateless_normal([batch, self.noise_dim], seed=seed)
            probs = self.soft_generate(noise)
            ids = tf.argmax(probs[:, :-1], -1, output_type=tf.int32)
            ids = pad_after_eos(tf.pad(ids, [[0, 0], [0, 1]]))   # the last position ends the row
            logp = tf.math.log(tf.gather(probs, ids, batch_dims=2) + 1e-9)
            return ids, logp
        w = self._gen_parts(weights)
        token = tf.zeros([batch], tf.int32)
        dtype = self.compute_dtype
        h = c = tf.zeros([batch, self.units], dtype)
        if self.features in ("d", "gd"):
            table, dk, dr, db = (self._cast(v) for v in (self.d_embedding, *self.d_lstm))
            hd = cd = tf.zeros([batch, self.disc_units], dtype)
        ids, logps = [], []
        for t in range(self.max_length):
            h_d = None
            if self.features in ("d", "gd"):
                hd, cd = _lstm(tf.gather(table, token), hd, cd, dk, dr, db)
                h_d = hd
            if self.generator_kind == "lstm":
                h, c = _lstm(tf.gather(w["embedding"], token), h, c, *w["lstm"])
            logits = tf.cast(self._head(h, h_d, w), tf.float32)
            logp_all = tf.nn.log_softmax(logits)
            draw = tf.random.stateless_categorical(filter_log_probs(logp_all, temperature, top_k, top_p), 1,
                                                   seed=tf.stack([seed[0], seed[1] * 64 + t]),
                                                   dtype=tf.int32)[:, 0]
            if prefix is not None:
                draw = tf.where(t < prefix_length, prefix[:, t], draw)
            if t == self.max_length - 1:
                draw = tf.zeros_like(draw)   # the row's end: a sentence is at most max_length - 1 pieces
            ids.append(draw)
            logps.append(tf.gather(logp_all, draw, batch_dims=1))
            token = draw
        ids = pad_after_eos(tf.stack(ids, axis=1))
        return ids, tf.stack(logps, axis=1)

    # -- Keras -----------------------------------------------------------------------------------
    def call(self, ids, training=False):
        ids = tf.convert_to_tensor(ids, tf.int32)
        cols = []
        if self.explicit or self.generator_kind == "deconv":
            cols.append(self.log_likelihood(ids)[0])
        if self.discriminator_kind in ("sequence", "step"):
            d = self.discriminate(ids)
            cols.append(d if d.shape.rank == 1 else tf.reduce_mean(d, 1))
        if self.discriminator_kind == "critic":
            batch = tf.shape(ids)[0]
            cols += [self.critic(ids), self.critic(self.soft_generate(self.fixed_noise(batch)))]
        return tf.stack([tf.cast(c, self.compute_dtype) for c in cols], axis=1)

    def get_config(self):
        return {**super().get_config(), "method": self.method, "vocab_size": self.vocab_size,
                "max_length": self.max_length, "embedding_dim": self.embedding_dim, "units": self.units,
                "mlp_units": self.mlp_units, "disc_embedding_dim": self.disc_embedding_dim,
                "disc_units": self.disc_units, "noise_dim": self.noise_dim,
                "deconv_channels": list(self.deconv_channels), "critic_channels": list(self.critic_channels),
                "kernel_size": self.kernel_size, "seed": self.seed}


def example_ids(model, batch, rng):
    """Random sentences: token ids 2.. up to a random <eos>, then <eos>."""
    ids = rng.integers(2, model.vocab_size, size=(batch, model.max_length)).astype("int32")
    for row in ids:
        row[rng.integers(model.max_length // 2, model.max_length):] = EOS
    return ids


_SMOKE = dict(vocab_size=12, max_length=8, embedding_dim=4, units=4, mlp_units=4, disc_embedding_dim=4,
              disc_units=4, noise_dim=4, deconv_channels=[4], critic_channels=[4], kernel_size=3)
for _method in METHODS:
    name = "textgan_lm" if _method == "mle" else _method
    register_model(name, smoke=_SMOKE, example_input=example_ids, method=_method)(TextGAN)

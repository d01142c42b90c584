"""Recurrent language models: a vanilla RNN, GRU or LSTM stack over token embeddings with the zoo's
recurrent-dropout cells (S. Semeniuta, "Recurrent Neural Networks for Discriminative and
Generative Learning", dissertation, 2019, §3.3 and the language-modelling set-up of §3.4.3), forward
dropout on the embedded inputs and on every layer's outputs (Zaremba et al., "Recurrent Neural
Network Regularization", 2014, §4.1), and optional tied input/output embeddings (Press and Wolf,
"Using the Output Embedding to Improve Language Models", 2017).

The family's LM contract (see `zoo/models/lm/__init__.py`): `call(ids)` -> next-token logits at
every position, `initial_state(batch)`, `step(tokens, state)` for the samplers, and
`forward(ids, initial_state)` -> (logits, final state) for truncated backpropagation through time
with the state carried across consecutive batches. `depth=d` runs the first d layers and the
same head (the per-depth SavedModels, as the other stacked recurrent exports).
"""
from __future__ import annotations

import keras
from keras import ops

from zoo.layers.checks import check_depth, check_positive_int, check_rate
from zoo.layers.dropout_rnn import DropoutRNN, make_cell
from zoo.layers.initializers import uniform
from zoo.registry import register_model, serializable

CELLS = ("rnn", "gru", "lstm")


@serializable
class RNNLM(keras.Model):
    """Embedding -> `num_layers` recurrent layers -> softmax over the vocabulary.

    Args:
        vocab_size: tokens incl. <eos> (id 0) and <unk> (id 1); set from the tokenizer.
        cell: "rnn", "gru" or "lstm".
        num_layers: 1-3 in the issue's tables (any positive number works).
        units: hidden size of every layer.
        embedding_dim: input embedding size; with `tied` it must equal `units`.
        recurrent_dropout, scheme, mask_sampling: the dissertation's recurrent dropout
            (`zoo/layers/dropout_rnn.py`): "semeniuta" | "gal" | "moon" | "none", per step or
            per sequence.
        input_dropout: dropout on the embedded inputs; output_dropout: on each layer's outputs
            (before the next layer and before the softmax).
        tied: the softmax weights are the embedding matrix (transposed).
        init_scale: U[-s, s] initialisation of every weight (Zaremba et al.: 0.05 / 0.04).
        seed: seed of initialisers and dropout masks.
    """

    def __init__(self, vocab_size=258, cell="lstm", num_layers=1, units=256, embedding_dim=128,
                 recurrent_dropout=0.0, scheme="none", mask_sampling="per_step", input_dropout=0.0,
                 output_dropout=0.0, tied=False, init_scale=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("vocab_size", vocab_size), ("num_layers", num_layers), ("units", units),
                            ("embedding_dim", embedding_dim)):
            check_positive_int(name, value)
        if vocab_size < 3:
            raise ValueError(f"vocab_size must be at least 3 (<eos>, <unk> and a token), got {vocab_size}")
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
        if tied and embedding_dim != units:
            raise ValueError(f"tied embeddings need embedding_dim == units, got {embedding_dim} and {units}")
        self.vocab_size, self.cell, self.num_layers, self.units = vocab_size, cell, num_layers, units
        self.embedding_dim, self.tied, self.init_scale, self.seed = embedding_dim, bool(tied), init_scale, seed
        self.recurrent_dropout, self.scheme, self.mask_sampling = recurrent_dropout, scheme, mask_sampling
        self.input_dropout = check_rate("input_dropout", input_dropout)
        self.output_dropout = check_rate("output_dropout", output_dropout)
        # Each weight its own initializer object and seed (zoo/layers/initializers.py): one shared
        # U[-s, s] object made the embedding equal to the start of the softmax kernel.
        dtype = self.dtype_policy
        self.embedding = keras.layers.Embedding(
            vocab_size, embedding_dim, name="embedding", dtype=dtype,
            embeddings_initializer="uniform" if init_scale is None else uniform(init_scale, seed, "embedding"))
        self.in_drop = keras.layers.Dropout(self.input_dropout, seed=seed, name="input_dropout", dtype=dtype)
        for k in range(num_layers):
            c = make_cell(cell, units, recurrent_dropout=recurrent_dropout, scheme=scheme,
                          mask_sampling=mask_sampling, init_scale=init_scale,
                          seed=None if seed is None else seed + k, name="cell", dtype=dtype)
            setattr(self, f"rnn{k + 1}", DropoutRNN(c, return_sequences=True, return_state=True,
                                                    name=f"rnn{k + 1}", dtype=dtype))
        self.out_drop = keras.layers.Dropout(self.output_dropout, seed=None if seed is None else seed + 101,
                                             name="output_dropout", dtype=dtype)
        self.head = None
        if not self.tied:
            self.head = keras.layers.Dense(
                vocab_size, name="head", dtype=dtype,
                kernel_initializer="glorot_uniform" if init_scale is None else uniform(init_scale, seed, "head"))
        else:
            self.head_bias = None

    @property
    def rnns(self) -> list:
        return [getattr(self, f"rnn{k + 1}") for k in range(self.num_layers)]

    @property
    def context_length(self):
        return None   # the state carries the whole history

    @property
    def input_dtype(self):
        return "int32"

    @property
    def states_per_layer(self) -> int:
        return 2 if self.cell == "lstm" else 1

    def build(self, input_shape=None):
        self.embedding.build((None, None))
        size = self.embedding_dim
        for rnn in self.rnns:
            rnn.build((None, None, size))
            size = self.units
        if self.head is not None:
            self.head.build((None, self.units))
        else:
            self.head_bias = self.add_weight(name="head_bias", shape=(self.vocab_size,), initializer="zeros")
        self.built = True

    def logits(self, h):
        if self.head is not None:
            return self.head(h)
        return ops.matmul(h, ops.transpose(self.embedding.embeddings)) + self.head_bias

    def initial_state(self, batch_size, depth=None):
        """Zero states of the first `depth` layers: (h1, [c1,] h2, [c2,] ...), each [B, units]."""
        n = check_depth(depth, self.num_layers) * self.states_per_layer
        if not self.built:
            self.build()
        return tuple(ops.zeros((batch_size, self.units), self.compute_dtype) for _ in range(n))

    def call(self, ids, training=False, depth=None):
        return self.forward(ids, training=training, depth=depth)[0]

    def forward(self, ids, initial_state=None, training=False, depth=None):
        """(logits [B, T, V], the final states) from `initial_state` (None: zeros): truncated
        BPTT's carried state. Not through Keras's `__call__`, which would cast the float state
        to the int32 `input_dtype` of the ids."""
        depth = check_depth(depth, self.num_layers)
        if not self.built:
            self.build()
        x = self.in_drop(self.embedding(ops.convert_to_tensor(ids, "int32")), training=training)
        per, final = self.states_per_layer, []
        for k in range(depth):
            init = None if initial_state is None else list(initial_state[k * per:(k + 1) * per])
            x, *states = self.rnns[k](x, initial_state=init, training=training)
            final += states
            x = self.out_drop(x, training=training)
        return self.logits(x), tuple(final)

    def step(self, tokens, state, depth=None):
        """One token per row (inference): (next-token logits [B, V], new state)."""
        depth = check_depth(depth, self.num_layers)
        if not self.built:
            self.build()
        x = self.embedding(ops.convert_to_tensor(tokens, "int32"))
        per, new = self.states_per_layer, []
        for k in range(depth):
            cell = self.rnns[k].cell
            x, states = cell(x, list(state[k * per:(k + 1) * per]), training=False)
            new += list(states)
        return self.logits(x), tuple(new)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "cell": self.cell,
                "num_layers": self.num_layers, "units": self.units, "embedding_dim": self.embedding_dim,
                "recurrent_dropout": self.recurrent_dropout, "scheme": self.scheme,
                "mask_sampling": self.mask_sampling, "input_dropout": self.input_dropout,
                "output_dropout": self.output_dropout, "tied": self.tied, "init_scale": self.init_scale,
                "seed": self.seed}


def example_ids(model, batch, rng):
    """Random token ids [batch, 9] of the model's vocabulary (the registry sweep's input)."""
    return rng.integers(0, model.vocab_size, size=(batch, 9)).astype("int32")


_SMOKE = dict(vocab_size=12, units=8, embedding_dim=8)
# Semeniuta §3.4.3 (Table 3.3): character-level LSTM, per-step recurrent dropout on the update.
register_model("lstm_lm", smoke=_SMOKE, example_input=example_ids, cell="lstm", units=256,
               embedding_dim=128, recurrent_dropout=0.25, scheme="semeniuta", init_scale=0.05)(RNNLM)
register_model("gru_lm", smoke=_SMOKE, example_input=example_ids, cell="gru", units=256,
               embedding_dim=128, init_scale=0.05)(RNNLM)
register_model("rnn_lm", smoke=_SMOKE, example_input=example_ids, cell="rnn", units=256,
               embedding_dim=128, init_scale=0.05)(RNNLM)
# Zaremba et al. §4.1 "medium" / Semeniuta Table 3.2: word-level, 2 x 650, tied is an option.
register_model("lstm_lm_word", smoke=dict(_SMOKE, num_layers=2), example_input=example_ids,
               cell="lstm", num_layers=2, units=650, embedding_dim=650, output_dropout=0.5,
               input_dropout=0.5, init_scale=0.05)(RNNLM)

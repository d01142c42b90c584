"""Stacked recurrent networks built from the dropout cells (Semeniuta, "Recurrent Neural Networks
for Discriminative and Generative Learning", ch. 3; Xu et al., "Greedy Layer-wise Training of
Long Short Term Memory Networks", §3.5).

`StackedRNN` reads float feature sequences [B, T, input_dim] or int32 symbol ids [B, T]
(`input_vocab`: one-hot, or an embedding when `embedding_dim` is set) through `num_layers`
recurrent layers and applies a dense head either to the last step ("last": classification or
regression of the whole sequence — Temporal Order, adding problem, sequential MNIST) or to every
step ("sequence": per-step logits, e.g. character-level language modelling).

`call(x, depth=d)` runs only the first d layers and the same head: the "model after d layers"
that the per-depth export serves (every layer has `units` outputs, so the head fits any depth).
"""
from __future__ import annotations

import keras
from keras import ops

from zoo.layers.checks import check_depth, check_positive_int
from zoo.layers.dropout_rnn import DropoutRNN, make_cell
from zoo.layers.initializers import uniform
from zoo.registry import register_model, serializable

READOUTS = ("last", "sequence")


@serializable
class StackedRNN(keras.Model):
    """A stack of `DropoutLSTMCell`/`DropoutGRUCell` layers with a dense head.

    Args:
        num_layers: stacked recurrent layers (Xu et al. compare 1, 2, 3).
        units: hidden size of every layer (Xu et al.: 256).
        cell: "lstm" or "gru".
        input_dim: feature size of float inputs (adding problem: 2; sequential MNIST: 28).
        input_vocab: number of symbols of int inputs (instead of `input_dim`).
        embedding_dim: embed symbols into this size; None one-hot encodes them.
        num_outputs: classes (logits) or regression targets of the head.
        readout: "last" (one prediction per sequence) or "sequence" (one per step).
        recurrent_dropout, scheme, mask_sampling, dropout, layer_norm: see `zoo/layers/dropout_rnn.py`.
        output_dropout: forward dropout on each layer's output sequence (incl. before the head).
        init_scale: U[-s, s] initialisation of every weight (Xu et al.'s random baseline: 0.003).
        seed: seed of initialisers and dropout masks.
    """

    def __init__(self, num_layers=2, units=256, cell="lstm", input_dim=None, input_vocab=None,
                 embedding_dim=None, num_outputs=10, readout="last", recurrent_dropout=0.0,
                 scheme="none", mask_sampling="per_step", dropout=0.0, output_dropout=0.0,
                 layer_norm=False, init_scale=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("num_layers", num_layers)
        check_positive_int("units", units)
        check_positive_int("num_outputs", num_outputs)
        check_positive_int("input_dim", input_dim, allow_none=True)
        check_positive_int("input_vocab", input_vocab, allow_none=True)
        check_positive_int("embedding_dim", embedding_dim, allow_none=True)
        if (input_dim is None) == (input_vocab is None):
            raise ValueError("give exactly one of input_dim (float feature inputs) or input_vocab "
                             f"(int symbol inputs); got input_dim={input_dim!r}, input_vocab={input_vocab!r}")
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        if not 0.0 <= output_dropout < 1.0:
            raise ValueError(f"output_dropout must be in [0, 1), got {output_dropout!r}")
        self.num_layers, self.units, self.cell = num_layers, units, cell
        self.input_dim, self.input_vocab, self.embedding_dim = input_dim, input_vocab, embedding_dim
        self.num_outputs, self.readout = num_outputs, readout
        self.recurrent_dropout, self.scheme, self.mask_sampling = recurrent_dropout, scheme, mask_sampling
        self.dropout, self.output_dropout, self.layer_norm = dropout, output_dropout, layer_norm
        self.init_scale, self.seed = init_scale, seed

        # Each weight its own initializer object and seed (zoo/layers/initializers.py).
        def init(name, default):
            return default if init_scale is None else uniform(init_scale, seed, name)

        # Sub-layers share the model's dtype policy, so a mixed-precision model is mixed throughout.
        dtype = self.dtype_policy
        self.embedding = None
        if input_vocab is not None and embedding_dim is not None:
            self.embedding = keras.layers.Embedding(
                input_vocab, embedding_dim, embeddings_initializer=init("embedding", "uniform"), name="embedding",
                dtype=dtype)
        cell_args = dict(recurrent_dropout=recurrent_dropout, scheme=scheme,
                         mask_sampling=mask_sampling, dropout=dropout, layer_norm=layer_norm,
                         init_scale=init_scale, dtype=dtype)
        # One attribute per layer (not a list): tf.train.Checkpoint, which the trainer's resumable
        # checkpoints use, does not track layers held in a Python list of a Keras 3 model.
        for k in range(num_layers):
            # A fixed cell name: checkpoints key weights by path ("rnn1/cell/kernel"); Keras's
            # automatic names ("dropout_lstm_cell_6") depend on how many cells the process made.
            cell_k = make_cell(cell, units, seed=None if seed is None else seed + k, name="cell",
                               **cell_args)
            setattr(self, f"rnn{k + 1}", DropoutRNN(cell_k, return_sequences=True, return_state=True,
                                                    name=f"rnn{k + 1}", dtype=dtype))
        self.drop = keras.layers.Dropout(output_dropout, seed=seed, name="output_dropout", dtype=dtype)
        self.head = keras.layers.Dense(num_outputs, kernel_initializer=init("head", "glorot_uniform"),
                                       name="head", dtype=dtype)

    @property
    def rnns(self) -> list:
        """The recurrent layers, bottom first."""
        return [getattr(self, f"rnn{k + 1}") for k in range(self.num_layers)]

    @property
    def input_dtype(self):
        """Symbol ids (int32) or float features: what Keras converts inputs to and traces
        `export()` with."""
        return "int32" if self.input_vocab is not None else self.compute_dtype

    @property
    def feature_dim(self) -> int:
        """Size of the vectors the first layer reads (and the greedy decoder reconstructs)."""
        if self.input_dim is not None:
            return self.input_dim
        return self.embedding_dim or self.input_vocab

    def build(self, input_shape=None):
        if self.embedding is not None:
            self.embedding.build((None, None))
        size = self.feature_dim
        for rnn in self.rnns:
            rnn.build((None, None, size))
            size = self.units
        self.head.build((None, self.units))
        self.built = True

    # -- forward -----------------------------------------------------------------------------
    def embed(self, x):
        """Model input -> float vectors [B, T, feature_dim] (one-hot or embedded symbols)."""
        if self.input_vocab is None:
            return ops.convert_to_tensor(x, "float32")
        ids = ops.convert_to_tensor(x, "int32")
        return self.embedding(ids) if self.embedding is not None else ops.one_hot(ids, self.input_vocab)

    def layer(self, k, seq, training=False):
        """Layer k (0-based) on a sequence: (output sequence, final states [h, (c)])."""
        out, *states = self.rnns[k](seq, training=training)
        return out, states

    def encode(self, x, depth=None, training=False):
        """Hidden-state sequence of layer `depth` (default: the top layer)."""
        seq = self.embed(x)
        for k in range(check_depth(depth, self.num_layers)):
            seq, _ = self.layer(k, seq, training=training)
            seq = self.drop(seq, training=training)
        return seq

    def call(self, x, training=False, depth=None):
        seq = self.encode(x, depth=depth, training=training)
        features = seq if self.readout == "sequence" else seq[:, -1]
        return self.head(features)

    def layer_variables(self, k):
        """Trainable variables of layer k (0-based); the first layer owns the embedding."""
        own = list(self.rnns[k].trainable_variables)
        if k == 0 and self.embedding is not None:
            own = list(self.embedding.trainable_variables) + own
        return own

    def get_config(self):
        return {**super().get_config(), "num_layers": self.num_layers, "units": self.units,
                "cell": self.cell, "input_dim": self.input_dim, "input_vocab": self.input_vocab,
                "embedding_dim": self.embedding_dim, "num_outputs": self.num_outputs,
                "readout": self.readout, "recurrent_dropout": self.recurrent_dropout,
                "scheme": self.scheme, "mask_sampling": self.mask_sampling, "dropout": self.dropout,
                "output_dropout": self.output_dropout, "layer_norm": self.layer_norm,
                "init_scale": self.init_scale, "seed": self.seed}


def _example(model, batch, rng):
    """Random inputs of the model's kind: symbol ids or float features, 7 steps."""
    import numpy as np
    if model.input_vocab is not None:
        return rng.integers(0, model.input_vocab, size=(batch, 7)).astype("int32")
    return rng.random((batch, 7, model.input_dim)).astype("float32")


_SMALL = dict(units=8, num_layers=2)
# Dissertation §3.4.1: one layer of 256 units, recurrent dropout 0.5, 4 symbols, 4 classes.
register_model("lstm_temporal_order", smoke=_SMALL, example_input=_example,
               num_layers=1, units=256, input_vocab=4, num_outputs=4, recurrent_dropout=0.5,
               scheme="semeniuta")(StackedRNN)
register_model("gru_temporal_order", smoke=_SMALL, example_input=_example,
               cell="gru", num_layers=1, units=256, input_vocab=4, num_outputs=4,
               recurrent_dropout=0.5, scheme="semeniuta")(StackedRNN)
# Dissertation §3.4.3: characters embedded into 256 dims, per-step softmax, 0.25 per-step dropout.
register_model("lstm_char_lm", smoke=dict(units=8, embedding_dim=4, input_vocab=16),
               example_input=_example, num_layers=1, units=1024, input_vocab=128, embedding_dim=256,
               num_outputs=128, readout="sequence", recurrent_dropout=0.25, scheme="semeniuta",
               init_scale=0.01)(StackedRNN)
# Seed 004 §4.1 / §4.2: 256 units, U[-0.003, 0.003] init; depth set by the recipe (1, 2, 3).
register_model("stacked_lstm_adding", smoke=_SMALL, example_input=_example,
               num_layers=2, units=256, input_dim=2, num_outputs=1, init_scale=0.003)(StackedRNN)
register_model("stacked_lstm_mnist", smoke=_SMALL, example_input=_example,
               num_layers=2, units=256, input_dim=28, num_outputs=10, init_scale=0.003)(StackedRNN)

"""Sequence-to-sequence stacked LSTM (Xu et al., "Greedy Layer-wise Training of Long Short Term
Memory Networks", §3.4-3.5, Fig. 2; §4.4 WMT'14 setup).

The encoder stack reads the source REVERSED (Sutskever et al. 2014, as Xu et al. §4.4 do); decoder layer k starts from encoder layer
k's final (h, c) and reads <GO> y_1 .. y_{n-1}, predicting y_1 .. y_n <EOS> (teacher forcing);
a dense head gives per-step logits. `call(x, depth=d)` uses the first d encoder and decoder
layers and the same head (the per-depth export). Symbol ids GO = 0 and EOS = 1 are reserved in
both vocabularies.

Greedy layer-wise pretraining (`pretrain.py`) pretrains the encoder layers: an autoencoder
decoder reconstructs the source IN ORDER from <GO>, ending with <EOS> (Fig. 2).
"""
from __future__ import annotations

import keras
from keras import ops

from zoo.layers.checks import check_depth
from zoo.layers.dropout_rnn import DropoutRNN, make_cell
from zoo.layers.initializers import uniform
from zoo.models.recurrent.model import StackedRNN
from zoo.registry import register_model, serializable

GO, EOS = 0, 1
RESERVED = 2   # task symbols start at id 2


@serializable
class Seq2SeqLSTM(StackedRNN):
    """Encoder `rnn1..rnnL` (StackedRNN's layers, reversed input) + decoder `dec1..decL` + head.

    Inputs: (source int32 [B, S], decoder_inputs int32 [B, T]) where decoder_inputs start with GO.
    Outputs: logits [B, T, num_outputs]. Arguments as `StackedRNN` (`input_vocab`: source symbols,
    `num_outputs`: target symbols, both counting GO and EOS); the decoder uses the same cell
    settings and its own target embedding (one-hot when `embedding_dim` is None).
    """

    is_seq2seq = True

    # Every argument explicit (not **kwargs): recipes validate `model.*` keys against it.
    def __init__(self, num_layers=2, units=256, cell="lstm", input_dim=None, input_vocab=12,
                 embedding_dim=None, num_outputs=12, readout="sequence", recurrent_dropout=0.0,
                 scheme="none", mask_sampling="per_step", dropout=0.0, output_dropout=0.0,
                 layer_norm=False, init_scale=None, seed=None, **kwargs):
        if input_dim is not None:
            raise ValueError("Seq2SeqLSTM reads symbol ids: give input_vocab, not input_dim")
        if readout != "sequence":
            raise ValueError(f"Seq2SeqLSTM predicts every target step: readout must be 'sequence', "
                             f"got {readout!r}")
        super().__init__(num_layers=num_layers, units=units, cell=cell, input_vocab=input_vocab,
                         embedding_dim=embedding_dim, num_outputs=num_outputs, readout="sequence",
                         recurrent_dropout=recurrent_dropout, scheme=scheme,
                         mask_sampling=mask_sampling, dropout=dropout,
                         output_dropout=output_dropout, layer_norm=layer_norm,
                         init_scale=init_scale, seed=seed, **kwargs)
        if min(input_vocab, num_outputs) <= RESERVED:
            raise ValueError(f"input_vocab and num_outputs count GO={GO} and EOS={EOS} plus at least "
                             f"one symbol; got {input_vocab} and {num_outputs}")
        init = ("uniform" if self.init_scale is None
                else uniform(self.init_scale, self.seed, "target_embedding"))
        self.target_embedding = None
        if self.embedding_dim is not None:
            self.target_embedding = keras.layers.Embedding(num_outputs, self.embedding_dim,
                                                           embeddings_initializer=init,
                                                           name="target_embedding",
                                                           dtype=self.dtype_policy)
        cell_args = dict(recurrent_dropout=self.recurrent_dropout, scheme=self.scheme,
                         mask_sampling=self.mask_sampling, dropout=self.dropout,
                         layer_norm=self.layer_norm, init_scale=self.init_scale, dtype=self.dtype_policy)
        # One attribute per layer, as StackedRNN's encoder layers.
        for k in range(num_layers):
            seed = None if self.seed is None else self.seed + 100 + k
            setattr(self, f"dec{k + 1}", DropoutRNN(make_cell(self.cell, units, seed=seed, name="cell", **cell_args),
                                                    return_sequences=True, return_state=True,
                                                    name=f"dec{k + 1}", dtype=self.dtype_policy))

    @property
    def decoders(self) -> list:
        return [getattr(self, f"dec{k + 1}") for k in range(self.num_layers)]

    @property
    def target_dim(self) -> int:
        return self.embedding_dim or self.num_outputs

    def build(self, input_shape=None):
        super().build(input_shape)
        if self.target_embedding is not None:
            self.target_embedding.build((None, None))
        size = self.target_dim
        for dec in self.decoders:
            dec.build((None, None, size))
            size = self.units
        self.built = True

    def embed_target(self, ids):
        ids = ops.convert_to_tensor(ids, "int32")
        if self.target_embedding is not None:
            return self.target_embedding(ids)
        return ops.one_hot(ids, self.num_outputs)

    def encoder_inputs(self, source):
        """What encoder layer 1 reads: the embedded source, time-reversed (Xu et al. §4.4)."""
        return ops.flip(self.embed(source), axis=1)

    def encode_states(self, source, depth=None, training=False):
        """Final [h, c] of each of the first `depth` encoder layers."""
        seq, states = self.encoder_inputs(source), []
        for k in range(check_depth(depth, self.num_layers)):
            seq, st = self.layer(k, seq, training=training)
            seq = self.drop(seq, training=training)
            states.append(st)
        return states

    def decode(self, decoder_inputs, states, training=False):
        """(logits of every step, the decoders' final states) from encoder states."""
        seq, new_states = self.embed_target(decoder_inputs), []
        for dec, st in zip(self.decoders, states):
            seq, *st = dec(seq, initial_state=st, training=training)
            seq = self.drop(seq, training=training)
            new_states.append(st)
        return self.head(seq), new_states

    def call(self, inputs, training=False, depth=None):
        source, decoder_inputs = inputs
        return self.decode(decoder_inputs, self.encode_states(source, depth, training), training)[0]

    def generate(self, source, steps: int, depth=None):
        """Greedy decoding from GO (inference mode): int32 [B, steps], each row up to and
        including its first EOS, then -1 (`zoo.eval.decoding.greedy_decode`)."""
        import tensorflow as tf

        from zoo.eval.decoding import greedy_decode

        source = ops.convert_to_tensor(source, "int32")

        def step_fn(tokens, states):
            logits, states = self.decode(tokens[:, None], states)
            return tf.nn.log_softmax(tf.cast(logits[:, 0], tf.float32)), states

        batch = source.shape[0] if source.shape[0] is not None else tf.shape(source)[0]
        sequences, _ = greedy_decode(step_fn, self.encode_states(source, depth), batch, steps, GO, EOS)
        return sequences


def _example(model, batch, rng):
    """(source [B, 7], decoder inputs [B, 8] starting with GO) of random symbols."""
    import numpy as np

    src = rng.integers(RESERVED, model.input_vocab, size=(batch, 7)).astype("int32")
    tgt = rng.integers(RESERVED, model.num_outputs, size=(batch, 7)).astype("int32")
    return src, np.concatenate([np.full((batch, 1), GO, "int32"), tgt], axis=1)


# Seed 004 §4.4 (WMT'14): reversed source, U[-0.008, 0.008] init; here digit strings (ids 2..11).
register_model("seq2seq_lstm_digits", smoke=dict(units=8, num_layers=2),
               example_input=_example, num_layers=2, units=128, input_vocab=12, num_outputs=12,
               init_scale=0.008)(Seq2SeqLSTM)

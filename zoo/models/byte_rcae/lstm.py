"""LSTM sequence-to-sequence autoencoder: the recurrent baseline of "Byte-level Recursive
Convolutional Auto-Encoder for Text", §4.1.

"Both input and output bytes are embedded into vectors of dimension 1024 [...] a hidden
representation of dimension 1024. The encoder reads the text in reverse order [Sutskever et al.,
2014]. The 1024-dimension hidden output of the last cell is used as the input for the decoder."
The decoder is fed the previous byte (teacher forcing) and decodes with a beam of size 2.

Same data contract as `ByteRCAE`, so one trainer serves both: int32 byte ids [B, L] (a
paragraph's bytes, the EOS null byte 0, then -1 padding) -> byte logits [B, L, 256], where the
logits at position t are predicted from the code and the true bytes before t.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from zoo.eval.decoding import beam_search, greedy_decode
from zoo.models.byte_rcae.model import NUM_BYTES, _byte_example
from zoo.registry import register_model, serializable

EOS = 0
GO = NUM_BYTES  # the decoder's start symbol: a 257th embedding row no byte maps to


def valid_lengths(ids):
    """Bytes + EOS per row: the count of non-padding (>= 0) ids; padding is always trailing."""
    return tf.reduce_sum(tf.cast(ids >= 0, tf.int32), axis=1)


@serializable
class LSTMAutoencoder(keras.Model):
    """The "vanilla" LSTM encoder-decoder baseline of §4.1.

    Args:
        units: LSTM hidden size (paper: 1024); the code is the encoder's final (h, c) per layer.
        embedding_dim: byte embedding size of encoder and decoder (paper: 1024).
        num_layers: stacked LSTM layers in each of encoder and decoder (paper: 1); decoder layer i
            starts from encoder layer i's final state.
        max_length: longest padded input the model is used with (the trainer's bucket limit).
    """

    def __init__(self, units=1024, embedding_dim=1024, num_layers=1, max_length=1024, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.embedding_dim = embedding_dim
        self.num_layers = num_layers
        self.max_length = max_length
        # Sub-layers share the model's dtype policy, so a mixed-precision model is mixed throughout.
        dtype = self.dtype_policy
        self.enc_embedding = keras.layers.Embedding(NUM_BYTES, embedding_dim, name="enc_embedding",
                                                    dtype=dtype)
        self.enc_lstms = [keras.layers.LSTM(units, return_sequences=True, return_state=True,
                                            name=f"enc_lstm{i}", dtype=dtype) for i in range(num_layers)]
        self.dec_embedding = keras.layers.Embedding(NUM_BYTES + 1, embedding_dim, name="dec_embedding",
                                                    dtype=dtype)
        self.dec_lstms = [keras.layers.LSTM(units, return_sequences=True, return_state=True,
                                            name=f"dec_lstm{i}", dtype=dtype) for i in range(num_layers)]
        self.out = keras.layers.Dense(NUM_BYTES, name="logits", dtype=dtype)

    @property
    def input_dtype(self):
        """Byte ids: the dtype Keras converts inputs to and traces `export()` with."""
        return "int32"

    @property
    def fixed_length(self):
        """Any length up to `max_length` works: the recurrence has no fixed size."""
        return None

    def build(self, input_shape=None):
        self.enc_embedding.build((None, None))
        self.dec_embedding.build((None, None))
        for i in range(self.num_layers):
            width = self.embedding_dim if i == 0 else self.units
            self.enc_lstms[i].build((None, None, width))
            self.dec_lstms[i].build((None, None, width))
        self.out.build((None, None, self.units))
        self.built = True

    # -- encoder -----------------------------------------------------------------------------
    def encode(self, ids, training=False):
        """Byte ids [B, L] -> the code: a list of [h, c] (each [B, units]) per layer.

        Each row's valid bytes (bytes + EOS) are reversed in place with `tf.reverse_sequence`,
        so the padding stays at the end and the mask is right-aligned; the masked LSTM carries
        its state through the padding, so the final state is the one after the row's first byte
        whatever the batch's longest row.
        """
        ids = tf.convert_to_tensor(ids, tf.int32)
        lengths = valid_lengths(ids)
        rev = tf.reverse_sequence(ids, lengths, seq_axis=1, batch_axis=0)
        mask = tf.sequence_mask(lengths, tf.shape(ids)[1])
        x = self.enc_embedding(tf.maximum(rev, 0))
        states = []
        for lstm in self.enc_lstms:
            x, h, c = lstm(x, mask=mask, training=training)
            states.append([h, c])
        return states

    # -- decoder -----------------------------------------------------------------------------
    def decode_logits(self, states, ids, training=False):
        """Teacher-forced decoding: code + true bytes [B, L] -> logits [B, L, 256].

        Position t reads GO (t = 0) or the true byte t-1, so its logits depend only on the code
        and bytes < t. Padding fed after EOS is mapped to byte 0; its outputs are masked anyway.
        """
        ids = tf.convert_to_tensor(ids, tf.int32)
        prev = tf.concat([tf.fill([tf.shape(ids)[0], 1], GO), tf.maximum(ids[:, :-1], 0)], axis=1)
        x = self.dec_embedding(prev)
        for lstm, (h, c) in zip(self.dec_lstms, states):
            x, _, _ = lstm(x, initial_state=[h, c], training=training)
        return self.out(x)

    def decode_step(self, tokens, states):
        """One decoder step: previous tokens [N] and states -> (log-probs [N, 256], new states).

        Uses the LSTM layers' own cells, so it shares their weights and matches `decode_logits`.
        """
        x = self.dec_embedding(tokens)
        new_states = []
        for lstm, (h, c) in zip(self.dec_lstms, states):
            x, (h, c) = lstm.cell(x, [h, c])
            new_states.append([h, c])
        logits = tf.cast(self.out(x), tf.float32)
        return tf.nn.log_softmax(logits, axis=-1), new_states

    def call(self, ids, training=False):
        ids = tf.convert_to_tensor(ids, tf.int32)
        if ids.shape[1] is not None and ids.shape[1] > self.max_length:
            raise ValueError(f"input length {ids.shape[1]} exceeds max_length {self.max_length}")
        return self.decode_logits(self.encode(ids, training=training), ids, training=training)

    def generate(self, ids, beam_size=2, max_length=None, length_penalty=0.0):
        """Autoencode without teacher forcing: ids [B, L] -> predicted byte ids [B, max_length].

        Beam search of `beam_size` (paper: 2; 1 = greedy). A hypothesis ends at its first EOS
        (kept in the output) and is padded with -1 after it. `max_length` defaults to L.
        """
        ids = tf.convert_to_tensor(ids, tf.int32)
        batch = int(ids.shape[0]) if ids.shape[0] is not None else None
        if batch is None:
            raise ValueError("generate needs a static batch size")
        max_length = int(max_length or ids.shape[1])
        states = self.encode(ids)
        if beam_size == 1:
            seq, _ = greedy_decode(self.decode_step, states, batch, max_length, GO, EOS)
        else:
            seq, _ = beam_search(self.decode_step, states, batch, beam_size, max_length, GO, EOS,
                                 length_penalty=length_penalty)
        return seq

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (NUM_BYTES,)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "embedding_dim": self.embedding_dim,
                "num_layers": self.num_layers, "max_length": self.max_length}


register_model("lstm_autoencoder",
               smoke=dict(units=32, embedding_dim=16, max_length=64),
               example_input=_byte_example, units=1024, embedding_dim=1024)(LSTMAutoencoder)

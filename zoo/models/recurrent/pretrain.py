"""Greedy layer-wise pretraining of a stacked LSTM with LSTM autoencoders (Xu, Shen, Yao, Tian and
Mei, "Greedy Layer-wise Training of Long Short Term Memory Networks", §3.4-3.5).

Phase k (k = 1..L, `pretrain_layer<k>`) trains layer k as the encoder of an LSTM autoencoder: layers 1..k-1 are
frozen (run in inference mode, no gradient, not in the stage's variable list, so they stay
bit-identical), layer k reads their hidden states, and a fresh decoder LSTM started from layer
k's final (h, c) reconstructs the ORIGINAL input (step 2 of §3.5) — in reverse order, the
classification variant of Fig. 1, with teacher forcing on the previous target vector. The loss
is the Euclidean distance for real-valued inputs (adding problem, MNIST rows, §4) and the
cross-entropy of the symbols for symbol inputs. After the L phases the task's main phase
fine-tunes every layer plus the supervised head. The decoders are discarded afterwards; they
live only in the phases' checkpoints.

Seq2seq (`Seq2SeqLSTM`, Fig. 2): the encoder layers are pretrained the same way on the REVERSED
source they read, but the autoencoder decoder reconstructs the source IN ORDER: it is fed
<GO> x_1 .. x_n and predicts x_1 .. x_n <EOS>. The seq2seq decoder stack and head start from
their random initialisation at fine-tuning (the paper pretrains the encoding LSTMs only).
"""
from __future__ import annotations

import keras
from keras import ops

from zoo.layers.dropout_rnn import DropoutRNN, make_cell
from zoo.training.task import Phase, Update


class AutoencoderDecoder(keras.layers.Layer):
    """Decoder of one layer's autoencoder: an LSTM (same cell kind and size as the encoder)
    started from the encoder's final state, projecting each step to the input vectors (or, for
    symbol inputs, to logits over the input vocabulary)."""

    def __init__(self, model, **kwargs):
        # The model's dtype policy unless told otherwise: a mixed-precision model pretrains mixed.
        super().__init__(**{"dtype": model.dtype_policy, **kwargs})
        self.feature_dim = model.feature_dim
        self.categorical = model.input_vocab is not None
        self.rnn = DropoutRNN(make_cell(model.cell, model.units, init_scale=model.init_scale,
                                        name="cell", dtype=self.dtype_policy),
                                    return_sequences=True, name="decoder", dtype=self.dtype_policy)
        out = model.input_vocab if self.categorical else self.feature_dim
        self.proj = keras.layers.Dense(out, name="reconstruction", dtype=self.dtype_policy)
        self.rnn.build((None, None, self.feature_dim))
        self.proj.build((None, model.units))

    def call(self, teacher, state, training=False):
        return self.proj(self.rnn(teacher, initial_state=state, training=training))


def reconstruction_sums(model, decoder, x, k, training):
    """Sums of the layer-(k+1) autoencoder loss (k 0-based) on a batch of model inputs x."""
    import tensorflow as tf

    if getattr(model, "is_seq2seq", False):
        return _seq2seq_reconstruction_sums(model, decoder, x, k, training)
    vectors = model.embed(x)
    seq = vectors
    for j in range(k):  # frozen lower layers: inference mode, no gradient
        seq, _ = model.layer(j, seq, training=False)
    seq = tf.stop_gradient(seq)
    _, state = model.layer(k, seq, training=training)
    # Reconstruct the input in reverse order; the decoder is fed the previous target (zeros first).
    target = ops.flip(vectors, axis=1)
    teacher = ops.concatenate([ops.zeros_like(target[:, :1]), target[:, :-1]], axis=1)
    teacher = tf.stop_gradient(teacher)
    out = tf.cast(decoder(teacher, state, training=training), tf.float32)   # float32 loss (mixed precision)
    batch, steps = tf.shape(out)[0], tf.shape(out)[1]
    count = tf.cast(batch * steps, tf.float32)
    if decoder.categorical:
        labels = ops.flip(ops.convert_to_tensor(x, "int32"), axis=1)
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=out)
        return {"loss_sum": tf.reduce_sum(nll), "count": count}
    err = tf.reduce_sum(tf.square(out - tf.stop_gradient(tf.cast(target, tf.float32))), axis=-1)
    return {"loss_sum": tf.reduce_sum(err), "count": count}


def _seq2seq_reconstruction_sums(model, decoder, source, k, training):
    """Encoder layer k+1 on the reversed source; the decoder reconstructs it in order + EOS."""
    import tensorflow as tf

    from zoo.models.recurrent.seq2seq import EOS, GO

    seq = model.encoder_inputs(source)
    for j in range(k):  # frozen lower layers: inference mode, no gradient
        seq, _ = model.layer(j, seq, training=False)
    _, state = model.layer(k, tf.stop_gradient(seq), training=training)
    ids = ops.convert_to_tensor(source, "int32")
    column = ops.ones_like(ids[:, :1])
    teacher = tf.stop_gradient(model.embed(ops.concatenate([GO * column, ids], axis=1)))
    labels = ops.concatenate([ids, EOS * column], axis=1)
    out = tf.cast(decoder(teacher, state, training=training), tf.float32)   # float32 loss (mixed precision)
    nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=out)
    return {"loss_sum": tf.reduce_sum(nll), "count": tf.cast(tf.size(labels), tf.float32)}


def greedy_phases(model, inputs_of, epochs: float = 1.0, learning_rate: float | None = None,
                  max_steps: int | None = None) -> list[Phase]:
    """One Phase per layer of `model` (a StackedRNN); `inputs_of(batch)` picks the model input.

    Defaults follow Xu et al. §4: one epoch per layer, the fine-tuning learning rate and batch
    size (`learning_rate` overrides the former).
    """
    phases = []
    overrides = {} if learning_rate is None else {"learning_rate": float(learning_rate)}
    for k in range(model.num_layers):
        decoder = AutoencoderDecoder(model, name=f"pretrain_decoder{k + 1}")

        def sums(m, batch, *, step, training, k=k, decoder=decoder):
            return reconstruction_sums(m, decoder, inputs_of(batch), k, training)

        def variables(k=k, decoder=decoder):
            return model.layer_variables(k) + list(decoder.trainable_variables)

        update = Update(f"layer{k + 1}", sums, variables, optimizer=overrides, modules={"decoder": decoder})
        phases.append(Phase(f"pretrain_layer{k + 1}", (update,), epochs=epochs, max_steps=max_steps))
    return phases

"""Seq2seq stacked LSTM (Xu et al., "Greedy Layer-wise Training of Long Short Term Memory
Networks", §3.4-3.5, Fig. 2, §4.4): shapes, the reversed-input encoder,
teacher forcing vs greedy decoding, in-order GO/EOS autoencoder pretraining of the encoder
layers (earlier layers bit-identical), fine-tuning of everything, per-depth export."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.data.synthetic import digit_transduction
from zoo.models.recurrent.seq2seq import EOS, GO, RESERVED
from zoo.models.recurrent.pretrain import reconstruction_sums
from zoo.training.trainer import Trainer

from tests.recurrent.test_recurrent_training import _same, _stage_model, recipe


def _model(**kw):
    return zoo.create_model("seq2seq_lstm_digits", build=True, **{"units": 8, "num_layers": 2, **kw})


def _batch(n=3, length=5, seed=0):
    src, tgt = digit_transduction(n, length, seed, "reverse", RESERVED)
    dec_in = np.concatenate([np.full((n, 1), GO, np.int32), tgt], axis=1)
    return src, tgt, dec_in


def test_digit_transduction_generator():
    src, tgt = digit_transduction(50, 7, 3, "reverse", RESERVED)
    np.testing.assert_array_equal(tgt, src[:, ::-1])
    assert src.min() >= RESERVED and src.max() <= RESERVED + 9
    s2, t2 = digit_transduction(50, 7, 3, "sort", RESERVED)
    np.testing.assert_array_equal(s2, src)
    np.testing.assert_array_equal(t2, np.sort(src, axis=1))
    with pytest.raises(Exception, match="digit transform must be one of"):
        digit_transduction(5, 3, 0, "shuffle")


def test_shapes_depths_and_bad_arguments():
    model = _model(num_layers=3)
    src, _, dec_in = _batch()
    out = np.asarray(model((src, dec_in)))
    assert out.shape == (3, 6, 12)
    shallow = np.asarray(model((src, dec_in), depth=1))
    assert shallow.shape == out.shape and not np.allclose(shallow, out)
    assert np.asarray(model.generate(src, 6)).shape == (3, 6)
    with pytest.raises(ValueError, match="readout must be 'sequence'"):
        zoo.create_model("seq2seq_lstm_digits", readout="last")
    with pytest.raises(ValueError, match="give input_vocab, not input_dim"):
        zoo.create_model("seq2seq_lstm_digits", input_dim=3)


def test_encoder_reads_the_source_reversed():
    model = _model()
    src, _, _ = _batch()
    states = model.encode_states(src)
    # By hand: layer 1 reads one-hot(source) from the LAST symbol to the first.
    seq = tf.one_hot(src[:, ::-1], 12)
    for k, rnn in enumerate(model.rnns):
        seq, *want = rnn(seq)
        for got, w in zip(states[k], want):
            np.testing.assert_allclose(np.asarray(got), np.asarray(w), atol=1e-6)
    forward = model.rnns[0](tf.one_hot(src, 12))[1]
    assert not np.allclose(np.asarray(states[0][0]), np.asarray(forward))


def test_greedy_decoding_matches_teacher_forcing_on_its_own_output():
    """The decoder state carried token by token equals the teacher-forced pass over the same
    inputs: argmax of model((src, GO + generated[:-1])) is the generated sequence. (Glorot
    initialisation: the registered U[-0.008, 0.008] leaves near-tied logits whose argmax is
    rounding noise.)"""
    model = _model(init_scale=None, seed=3)
    src, _, _ = _batch(n=4)
    gen = np.asarray(model.generate(src, 6))
    # Rows stop at their first EOS (then -1): compare the positions up to and including it.
    written = np.cumsum(np.cumsum(gen == EOS, axis=1), axis=1) <= 1
    assert np.all(gen[~written] == -1) and np.all(gen[written] >= 0)
    fed = np.concatenate([np.full((4, 1), GO, np.int32), np.maximum(gen[:, :-1], 0)], axis=1)
    teacher = np.argmax(np.asarray(model((src, fed))), -1)
    np.testing.assert_array_equal(teacher[written], gen[written])


class _Oracle(keras.layers.Layer):
    """A stand-in autoencoder decoder that records its teacher input and outputs confident
    logits for the labels a correct in-order GO/EOS reconstruction has."""

    categorical = True

    def __init__(self, labels):
        super().__init__()
        self.labels = labels

    def call(self, teacher, state, training=False):
        self.teacher = teacher
        return 50.0 * tf.one_hot(self.labels, 12)


def test_pretraining_decoder_reconstructs_the_source_in_order_with_go_and_eos():
    model = _model()
    src, _, _ = _batch()
    in_order = np.concatenate([src, np.full((3, 1), EOS, np.int32)], axis=1)
    oracle = _Oracle(in_order)
    sums = reconstruction_sums(model, oracle, src, 1, training=False)
    assert float(sums["loss_sum"]) < 1e-6 and float(sums["count"]) == in_order.size
    teacher = np.argmax(np.asarray(oracle.teacher), -1)   # one-hot model inputs
    np.testing.assert_array_equal(teacher[:, 0], GO)
    np.testing.assert_array_equal(teacher[:, 1:], src)
    reversed_labels = np.concatenate([src[:, ::-1], np.full((3, 1), EOS, np.int32)], axis=1)
    assert float(reconstruction_sums(model, _Oracle(reversed_labels), src, 1, False)["loss_sum"]) > 1.0


S2S = {"name": "seq2seq_lstm_digits", "units": 8, "num_layers": 2, "seed": 7}   # seeded init
S2S_OPTS = {"name": "digit_seq2seq", "length": 4, "train_examples": 96, "test_examples": 32,
            "pretrain_epochs": 1, "train_metric_examples": 32}


# Slow tier: test_task_sweep[digit_seq2seq] steps every pretraining phase of this model (only the
# phase's encoder layer moves, the decoders and head stay bit-identical, fine-tuning moves every
# variable) and test_recurrent_training's greedy pretraining test runs the phases end to end.
@pytest.mark.slow
def test_greedy_pretraining_of_the_encoder_then_fine_tuning_of_everything(tmp_path):
    run = tmp_path / "s2s"
    config = recipe(run, S2S, S2S_OPTS, max_steps=4)
    trainer = Trainer(config, log=lambda *a: None)
    metrics = trainer.fit()
    assert {"sequence_accuracy", "greedy_sequence_accuracy", "train_accuracy"} <= set(metrics)
    s1, s2 = (_stage_model(config, run, f"pretrain_layer{k}") for k in (1, 2))
    initial = zoo.create_model(config.model.name, build=True, **config.model.kwargs())
    # Phase 2 left encoder layer 1 bit-identical and trained encoder layer 2.
    assert _same(s1.layer_variables(0), s2.layer_variables(0))
    assert not _same(s1.layer_variables(1), s2.layer_variables(1))
    assert not _same(initial.layer_variables(0), s1.layer_variables(0))
    # The seq2seq decoder stack and head are not pretrained (Fig. 2 pretrains the encoder).
    for a in (s1, s2):
        for dec_a, dec_0 in zip(a.decoders, initial.decoders):
            assert _same(dec_a.weights, dec_0.weights)
        assert _same(a.head.weights, initial.head.weights)
    final = trainer.model
    moved = {v.path: not np.array_equal(np.asarray(v), np.asarray(w))
             for v, w in zip(final.trainable_variables, s2.trainable_variables)}
    assert all(moved.values()), [p for p, m in moved.items() if not m]


def test_export_serves_each_depth(tmp_path):
    from zoo.export import export_model, read_manifest

    model = _model()
    out = export_model(model, {"name": "s", "model": dict(S2S)}, tmp_path / "export")
    assert [e["depth"] for e in read_manifest(out)["savedmodels"]] == [1, 2]
    src, _, dec_in = _batch()
    for d in (1, 2):
        fn = tf.saved_model.load(str(out / f"depth_{d}" / "1")).signatures["predict"]
        got = fn(source=tf.constant(src), decoder_inputs=tf.constant(dec_in))["outputs"].numpy()
        np.testing.assert_allclose(got, np.asarray(model((src, dec_in), depth=d)), atol=1e-5)

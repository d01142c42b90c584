"""LSTM autoencoder baseline ("Byte-level Recursive Convolutional Auto-Encoder for Text", §4.1) and
the generic beam search it decodes with."""
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.eval.decoding import beam_search, gnmt_length_penalty, greedy_decode
from zoo.models.byte_rcae.lstm import GO, LSTMAutoencoder

SMALL = dict(units=24, embedding_dim=12, max_length=64)


def _ids(texts, length=None):
    """Paragraph bytes + EOS 0, padded with -1 to `length` (default: the longest row)."""
    rows = [list(t.encode()) + [0] for t in texts]
    length = length or max(map(len, rows))
    return np.array([r + [-1] * (length - len(r)) for r in rows], dtype=np.int32)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    m = LSTMAutoencoder(num_layers=2, **SMALL)
    m.build()
    return m


# -- model -------------------------------------------------------------------------------------
def test_registry_shapes_and_config():
    entry = zoo.model_entry("lstm_autoencoder")
    assert entry.family == "byte_rcae"
    assert entry.defaults == {"units": 1024, "embedding_dim": 1024}
    m = zoo.create_model("lstm_autoencoder", build=True, **entry.smoke)
    assert m.built and m.fixed_length is None
    ids = entry.example_input(m, 3, np.random.default_rng(1))
    assert m(ids).shape == (3, ids.shape[1], 256)
    config = m.get_config()
    assert {k: config[k] for k in ("units", "embedding_dim", "num_layers", "max_length")} == \
        {"units": 32, "embedding_dim": 16, "num_layers": 1, "max_length": 64}
    clone = LSTMAutoencoder.from_config(config)
    clone.build()
    assert [w.shape for w in clone.weights] == [w.shape for w in m.weights]
    with pytest.raises(ValueError, match="max_length"):
        m(np.zeros((1, 128), np.int32))


def test_keras_round_trip(model, tmp_path):
    ids = _ids(["hello world", "abc"], 16)
    path = tmp_path / "lstm.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, LSTMAutoencoder) and loaded.num_layers == 2
    np.testing.assert_allclose(loaded(ids), model(ids), atol=1e-5)


def test_encoder_reads_each_row_reversed_regardless_of_batch(model):
    short, long = "hi there", "a considerably longer paragraph"
    alone = model.encode(_ids([short]))  # no padding at all
    batched = model.encode(_ids([short, long], 64))  # 32+ padding bytes after the short row
    for (h1, c1), (h2, c2) in zip(alone, batched):
        np.testing.assert_allclose(h1[0], h2[0], atol=1e-6)
        np.testing.assert_allclose(c1[0], c2[0], atol=1e-6)
    # The code is the state after reading EOS, then the bytes backwards (§4.1).
    reversed_ids = np.array([[0] + list(short.encode())[::-1]], np.int32)
    x = model.enc_embedding(reversed_ids)
    for lstm, (h, c) in zip(model.enc_lstms, alone):
        x, h_ref, c_ref = lstm(x)
        np.testing.assert_allclose(h, h_ref, atol=1e-6)
        np.testing.assert_allclose(c, c_ref, atol=1e-6)


def test_decoder_is_causal_teacher_forced(model):
    ids = _ids(["teacher forcing", "causal"], 16)
    state = model.encode(ids)
    base = model.decode_logits(state, ids).numpy()
    t = 5
    changed = ids.copy()
    changed[:, t] = ord("#")
    out = model.decode_logits(state, changed).numpy()
    np.testing.assert_allclose(out[:, :t + 1], base[:, :t + 1], atol=1e-6)
    assert np.abs(out[:, t + 1] - base[:, t + 1]).max() > 1e-4


def test_generate_matches_teacher_forcing_and_pads(model):
    ids = _ids(["some text", "more"], 16)
    for beam in (1, 2):
        out = model.generate(ids, beam_size=beam).numpy()
        assert out.shape == ids.shape and out.dtype == np.int32
        for row in out:
            eos = np.flatnonzero(row == 0)
            if eos.size:
                assert (row[eos[0] + 1:] == -1).all()
            assert (row[: eos[0] + 1 if eos.size else None] >= 0).all()
    # Greedy output fed back through the teacher-forced path is its own argmax: the step-wise
    # cell decoder and the sequence LSTM agree.
    greedy = model.generate(ids, beam_size=1).numpy()
    logits = model.decode_logits(model.encode(ids), greedy).numpy()
    valid = greedy >= 0
    np.testing.assert_array_equal(logits.argmax(-1)[valid], greedy[valid])


def test_short_training_run_memorises_strings():
    keras.utils.set_random_seed(1)
    texts = ["the cat", "a dog", "hello", "byte ae", "lstm", "zoo!", "beam 2", "paper"]
    ids = tf.constant(_ids(texts, 8))
    m = LSTMAutoencoder(units=96, embedding_dim=32, max_length=16)
    m.build()
    opt = keras.optimizers.Adam(1e-2)
    labels, mask = tf.maximum(ids, 0), tf.cast(ids >= 0, tf.float32)

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, m(ids, training=True))
            loss = tf.reduce_sum(nll * mask) / tf.reduce_sum(mask)
        grads = tape.gradient(loss, m.trainable_variables)
        opt.apply_gradients(zip(grads, m.trainable_variables))
        return loss

    losses = [float(train_step()) for _ in range(150)]
    assert losses[-1] < 0.1 * losses[0], (losses[0], losses[-1])  # typically 5.5 -> 0.01
    for beam in (1, 2):  # typically all 8 strings come back exactly
        out = m.generate(ids, beam_size=beam).numpy()
        exact = sum(np.array_equal(o, i) for o, i in zip(out, ids.numpy()))
        assert exact >= 6, (beam, out)


# -- beam search -------------------------------------------------------------------------------
EOS, A, B_, START = 0, 1, 2, 3
# Per batch row: next-token probabilities [EOS, a, b, start] given the prefix so far.
TABLES = [
    {(): [.02, .58, .40, 0], (A,): [.40, .30, .30, 0], (B_,): [.90, .05, .05, 0]},
    {(): [.10, .80, .10, 0], (A,): [.10, .10, .80, 0], (A, B_): [.95, .03, .02, 0]},
    # After step 2 the surviving beams are "b a" (from beam 1) then "a a" (from beam 0): their
    # states must swap, or "b a" is scored as "a a".
    {(): [0, .60, .40, 0], (A,): [.05, .50, .45, 0], (B_,): [0, .95, .05, 0],
     (A, A): [.10, .50, .40, 0]},
]
DEFAULT = [.90, .05, .05, 0]
T = 6


def _toy_step(tokens, state):
    """Looks the distribution up by the full prefix, which lives only in the state, so a wrong
    state reordering after pruning gives wrong probabilities."""
    row, hist, n = (s.numpy() for s in state)
    hist, n = hist.copy(), n.copy()
    tokens = tokens.numpy()
    probs = []
    for i, tok in enumerate(tokens):
        if tok != START:
            hist[i, n[i]] = tok
            n[i] += 1
        probs.append(TABLES[row[i]].get(tuple(hist[i, :n[i]]), DEFAULT))
    with np.errstate(divide="ignore"):
        logp = np.maximum(np.log(np.array(probs)), -1e4).astype(np.float32)
    return tf.constant(logp), (tf.constant(row), tf.constant(hist), tf.constant(n))


def _toy_state(batch):
    return (tf.range(batch), tf.fill([batch, T], -1), tf.zeros([batch], tf.int32))


def _true_logp(row, seq):
    prefix, total = (), 0.0
    for tok in seq:
        if tok < 0:
            break
        total += math.log(TABLES[row].get(prefix, DEFAULT)[tok])
        prefix += (tok,)
    return total


def test_beam_search_beats_greedy_on_toy_tables():
    g_seq, g_score = greedy_decode(_toy_step, _toy_state(3), 3, T, START, EOS)
    b_seq, b_score = beam_search(_toy_step, _toy_state(3), 3, 2, T, START, EOS)
    pad = [-1] * (T - 2)
    assert g_seq.numpy()[0].tolist() == [A, EOS] + pad  # greedy: 0.58 * 0.40 = 0.232
    assert b_seq.numpy()[0].tolist() == [B_, EOS] + pad  # best:   0.40 * 0.90 = 0.36
    assert b_seq.numpy()[1].tolist() == [A, B_, EOS] + pad[1:]
    assert g_seq.numpy()[2].tolist() == [A, A, A, EOS] + pad[2:]  # 0.6*0.5*0.5*0.9 = 0.135
    assert b_seq.numpy()[2].tolist() == [B_, A, EOS] + pad[1:]  # 0.4*0.95*0.9 = 0.342
    for r in range(3):
        np.testing.assert_allclose(g_score[r], _true_logp(r, g_seq.numpy()[r]), rtol=1e-5)
        np.testing.assert_allclose(b_score[r], _true_logp(r, b_seq.numpy()[r]), rtol=1e-5)
    assert b_score[0] > g_score[0] and b_score[2] > g_score[2]


def test_beam_search_length_penalty_scores():
    alpha = 0.8
    seq, score = beam_search(_toy_step, _toy_state(3), 3, 3, T, START, EOS, length_penalty=alpha)
    for r in range(3):
        n = int((seq.numpy()[r] >= 0).sum())
        expected = _true_logp(r, seq.numpy()[r]) / float(gnmt_length_penalty(n, alpha))
        np.testing.assert_allclose(score[r], expected, rtol=1e-5)


def test_beam_search_in_tf_function():
    # A bigram model in pure TF: beam search traces into a graph and agrees with eager mode.
    table = tf.math.log_softmax(tf.random.stateless_normal([5, 5], seed=[1, 2]) * 3.0)

    def step(tokens, state):
        return tf.gather(table, tokens), state + 1

    run = lambda: beam_search(step, tf.zeros([3]), 3, 2, 7, 4, 0)  # noqa: E731
    eager = run()
    graph = tf.function(run)()
    np.testing.assert_array_equal(eager[0], graph[0])
    np.testing.assert_allclose(eager[1], graph[1], rtol=1e-6)

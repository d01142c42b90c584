"""Beam search vs greedy (the lecture "Deep Sequence Modeling"; Kaiser et al. §5 decode with beam 4 + length penalty)
and SliceNet's decoding glue: scores, greedy = beam 1, batch independence."""
import itertools
import math

import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.eval.decoding import beam_search, greedy_decode
from zoo.models.slicenet.decoding import decode_ids, score_ids
from zoo.models.slicenet.model import EOS, GO, PAD

START, A, B, C = 0, 2, 3, 4
V = 5


def _table():
    """Next-token probabilities given the previous token. Greedy takes A (0.5 > 0.4), but every
    continuation of A is poor, while B -> EOS has 0.9: the best sequence is B EOS (0.36)."""
    p = np.full((V, V), 1e-6)
    p[START, [A, B, C]] = [0.5, 0.4, 0.1]
    p[A, [EOS, A, B, C]] = [0.3, 0.25, 0.25, 0.2]
    p[B, [EOS, C]] = [0.9, 0.1]
    p[C, [EOS, C]] = [0.5, 0.5]
    p /= p.sum(1, keepdims=True)
    return np.log(p).astype("float32")


def _step(table):
    t = tf.constant(table)

    def step_fn(tokens, state):
        return tf.gather(t, tokens), state
    return step_fn


def _seq_logp(table, seq):
    prev, total = START, 0.0
    for tok in seq:
        total += table[prev, tok]
        prev = tok
        if tok == EOS:
            break
    return total


def _best_by_enumeration(table, T):
    best = (-math.inf, None)
    for n in range(1, T + 1):
        for body in itertools.product([A, B, C], repeat=n - 1):
            seq = list(body) + [EOS]
            best = max(best, (_seq_logp(table, seq), seq))
    return best


def test_beam_search_finds_the_best_sequence_where_greedy_fails():
    table, T = _table(), 5
    state = {"dummy": tf.zeros([2, 1])}
    g_seq, g_score = greedy_decode(_step(table), state, 2, T, START, EOS)
    b_seq, b_score = beam_search(_step(table), state, 2, 4, T, START, EOS)
    best_score, best_seq = _best_by_enumeration(table, T)
    assert best_seq == [B, EOS]
    assert list(g_seq.numpy()[0][:1]) == [A]                     # greedy is wrong here
    assert float(g_score[0]) < best_score - 0.1
    assert list(b_seq.numpy()[0][:2]) == best_seq                 # beam finds the optimum
    assert float(b_score[0]) == pytest.approx(best_score, abs=1e-4)


def test_length_penalty_rescales_finished_scores():
    table, T = _table(), 5
    alpha = 1.0
    seq, score = beam_search(_step(table), {"d": tf.zeros([1, 1])}, 1, 4, T, START, EOS, length_penalty=alpha)
    tokens = [t for t in seq.numpy()[0] if t != -1]
    assert float(score[0]) == pytest.approx(_seq_logp(table, tokens) / ((5 + len(tokens)) / 6) ** alpha, abs=1e-4)


def test_beam_search_accepts_a_runtime_batch_size():
    table = _table()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32)])
    def run(rows):
        return beam_search(_step(table), {"r": rows}, tf.shape(rows)[0], 3, 4, START, EOS)[0]
    out = run(tf.constant([0, 1, 2]))
    assert out.shape == (3, 4) and list(out.numpy()[2][:2]) == [B, EOS]


@pytest.fixture(scope="module")
def model():
    import keras
    keras.utils.set_random_seed(0)  # one fixed random model: the slot test relies on its behaviour
    m = zoo.create_model("slicenet_full_k15", vocab_size=30, filters=24, encoder_modules=1,
                         decoder_modules=1, dropout=0.0, build=True)
    # Sharpen the random model so decoding finishes with EOS within the length limit.
    m.embedding.embeddings.assign(m.embedding.embeddings * 3.0)
    return m


def test_model_decoding_scores_match_score_ids(model):
    rng = np.random.default_rng(3)
    src = rng.integers(4, 30, size=(3, 6)).astype("int32")
    src[:, -1] = EOS
    for beam in (1, 4):
        ids, scores = decode_ids(model, src, GO, 8, beam, length_penalty=0.0)
        ids = ids.numpy()
        assert not np.isin(ids, [GO]).any()
        # The search's score is the model's log-probability of its output (score signature).
        target = np.where(ids == -1, PAD, ids).astype("int32")
        np.testing.assert_allclose(score_ids(model, src, target, GO), scores, atol=1e-3)
    greedy, _ = decode_ids(model, src, GO, 8, 1)
    single, _ = decode_ids(model, src[1:2], GO, 8, 1)       # batch independence
    np.testing.assert_array_equal(greedy.numpy()[1], single.numpy()[0])


def _placed(row, need, slots):
    """(ended, every needed slot before the end, no slot outside `need` and none twice)."""
    row = list(row)
    out = row[: row.index(EOS)] if EOS in row else row
    return EOS in row, need <= set(out), all(out.count(s) <= (s in need) for s in slots)


def test_placeholder_slots_are_placed_before_eos_and_never_invented(model):
    slots = [20, 21, 22, 23]
    src = np.array([[5, 20, 6, 22, 7, EOS], [5, 6, 7, 8, 9, EOS], [23, 9, 9, 9, 9, EOS]], "int32")
    required = [{20, 22}, set(), {23}]
    free, _ = decode_ids(model, src, GO, 24, 1)
    # The random model ends some hypothesis without its source's slots...
    assert any(e and not placed for e, placed, _ in map(_placed, free.numpy(), required, [slots] * 3))
    for beam in (1, 4):
        ids, scores = decode_ids(model, src, GO, 24, beam, length_penalty=0.0, slot_ids=slots)
        for row, need in zip(ids.numpy(), required):
            ended, placed, only_own = _placed(row, need, slots)
            # ...the constrained search never does, and uses a slot no more often than the source.
            assert only_own and (placed or not ended), (beam, row, need)
        assert EOS in ids.numpy()[1]  # nothing to place: it ends as usual
        # Constraints steer the search; the scores stay the model's log-probabilities.
        target = np.where(ids.numpy() == -1, PAD, ids.numpy()).astype("int32")
        np.testing.assert_allclose(score_ids(model, src, target, GO), scores, atol=1e-3)

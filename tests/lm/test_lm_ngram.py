"""The interpolated Kneser-Ney n-gram LM (zoo/models/lm/ngram.py): counts against a brute-force
count and against nltk's KneserNeyInterpolated, where nltk differs (zero / -inf, unnormalised
contexts), normalisation, discounts, the graph against the numpy reference, step against call,
the .keras round trip and the errors; the lookup scoring path (`score_texts`) against the
reference and the full-distribution path, the ARPA writer against `prob`."""
import math
from collections import Counter, defaultdict

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.models.lm.generate import score_ids
from zoo.models.lm.ngram import (EOS, FALLBACK_DISCOUNTS, NGramIndex, NGramLM, count_ngrams,
                                 count_of_counts, kn_discounts)

V = 12          # ids V-2 and V-1 never occur in the stream: unseen words
UNSEEN = V - 1


def _stream(seed=0, size=400):
    """Documents of Zipf-distributed tokens 2..V-3 joined by <eos>, starting with <eos>."""
    rng = np.random.default_rng(seed)
    s = np.minimum(rng.zipf(1.6, size) + 1, V - 3).astype(np.int32)
    s[rng.random(size) < 0.08] = EOS
    s[0] = EOS
    return s


S = _stream()


def _padded(s, n):
    return [EOS] * (n - 1) + [int(t) for t in s]


def _contexts(s, n, extra=True):
    """(n-1)-token contexts: every one seen before a predicted token, plus (extra) contexts seen
    only as their suffix, wholly unseen, with unseen tokens, and all-<eos>."""
    P = _padded(s, n)
    seen = sorted({tuple(P[i:i + n - 1]) for i in range(1, len(s))})
    if not extra or n == 1:
        return seen
    more = [tuple([UNSEEN] * (n - 1)), tuple([EOS] * (n - 1)), tuple([V - 2] + list(seen[0][1:])),
            tuple(list(seen[-1][:-1]) + [UNSEEN]), tuple(reversed(seen[len(seen) // 2]))]
    return seen + more


# -- counting --------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 4])
def test_counts_are_raw_at_the_top_and_continuation_counts_below(n):
    """Brute force: the n-grams ending at the predicted positions 1..N-1 of the <eos>-padded
    stream (raw counts), and for k < n the number of distinct left neighbours of each k-gram;
    denominators and gammas by their formulas."""
    t = count_ngrams(S, n, V)
    P = _padded(S, n)
    ends = range(n - 1 + 1, len(P))                     # s-positions 1..N-1
    want = {n: Counter(tuple(P[j - n + 1:j + 1]) for j in ends)}
    seen = {k: {tuple(P[j - k + 1:j + 1]) for j in ends} for k in range(1, n + 1)}
    for k in range(n - 1, 0, -1):
        left = defaultdict(set)
        for g in seen[k + 1]:
            left[g[1:]].add(g[0])
        want[k] = {g: len(x) for g, x in left.items()}
    for k in range(1, n + 1):
        got = {g: int(t.counts[k][t.node_id(g)]) for g in want[k]}
        assert got == dict(want[k]), k
        assert t.counts[k].sum() == sum(want[k].values())   # no other k-gram has a count
    # Denominators and gammas of every context h seen before a predicted token at order n.
    d = t.discounts[n - 1, 0]
    for h in {g[:-1] for g in want[n]}:
        succ = {g[-1]: c for g, c in want[n].items() if g[:-1] == h}
        node = t.node_id(h)
        assert t.denom[n - 1][node] == sum(succ.values())
        np.testing.assert_allclose(t.gamma[n - 1][node], d * len(succ) / sum(succ.values()), rtol=1e-12)


def test_modified_discounts_match_chen_and_goodman_on_hand_made_counts():
    """Order 1 (raw unigram counts of s[1:]): n1 = 3, n2 = 2, n3 = 2, n4 = 1 and one count of 5.
    Y = 3/7, D1 = 1 - 2Y n2/n1 = 3/7, D2 = 2 - 3Y n3/n2 = 5/7, D3+ = 3 - 4Y n4/n3 = 15/7."""
    tokens = {2: 1, 3: 1, 4: 1, 5: 2, 6: 2, 7: 3, 8: 3, 9: 4, 10: 5}
    s = np.array([EOS] + [w for w, c in tokens.items() for _ in range(c)], np.int32)
    np.random.default_rng(0).shuffle(s[1:])
    t = count_ngrams(s, 1, V, modified=True)
    assert count_of_counts(t.counts[1]).tolist() == [3, 2, 2, 1]
    np.testing.assert_allclose(t.discounts[0], [3 / 7, 5 / 7, 15 / 7], rtol=1e-12)
    # gamma of the empty context: (3 D1 + 2 D2 + 4 D3+) / 22 = 79/154; num(10) = 5 - 15/7.
    np.testing.assert_allclose(t.gamma[0][0], 79 / 154, rtol=1e-12)
    np.testing.assert_allclose(t.num[1][t.node_id([10])], 5 - 15 / 7, rtol=1e-12)
    np.testing.assert_allclose(t.prob([], 10), (5 - 15 / 7) / 22 + 79 / 154 / V, rtol=1e-12)
    # Plain KN on the same counts: D = n1 / (n1 + 2 n2) = 3/7.
    np.testing.assert_allclose(count_ngrams(s, 1, V).discounts[0], [3 / 7] * 3, rtol=1e-12)


def test_discounts_of_every_order_follow_their_count_of_counts():
    for modified in (False, True):
        t = count_ngrams(_stream(3, 3000), 4, V, modified=modified)
        for k in range(1, 5):
            n1, n2, n3, n4 = count_of_counts(t.counts[k]).astype(float)
            with np.errstate(divide="ignore", invalid="ignore"):
                y = n1 / (n1 + 2 * n2)
                want = ([1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3] if modified
                        else [y] * 3)
            if not (np.all(np.array(want) > 0) and np.all(np.array(want) <= [1, 2, 3])):
                want = FALLBACK_DISCOUNTS if modified else [FALLBACK_DISCOUNTS[0]] * 3
            np.testing.assert_allclose(t.discounts[k - 1], want, rtol=1e-12)


def test_undefined_or_out_of_range_discounts_fall_back():
    # n3 = 0: D2 and D3+ are undefined; n4 large: D3+ < 0; n1 = 0: plain D = 0.
    assert kn_discounts([1, 1, 2, 4], modified=True).tolist() == list(FALLBACK_DISCOUNTS)
    assert kn_discounts([1, 1, 1, 2, 2, 3, 4, 4, 4], modified=True).tolist() == list(FALLBACK_DISCOUNTS)
    assert kn_discounts([2, 3, 7]).tolist() == [FALLBACK_DISCOUNTS[0]] * 3
    assert kn_discounts([1, 1, 0, 5]).tolist() == [1.0] * 3     # n2 = 0: D = 1 is valid


# -- nltk ------------------------------------------------------------------------------------
def _nltk(s, n, discount):
    """nltk fed exactly the k-grams (k = 1..n) that end at the predicted positions of the
    <eos>-padded stream, so that its raw and continuation counts are ours."""
    from nltk.lm import KneserNeyInterpolated

    P = [f"t{t}" for t in _padded(s, n)]
    grams = [tuple(P[j - k + 1:j + 1]) for j in range(n, len(P)) for k in range(1, n + 1)]
    lm = KneserNeyInterpolated(n, discount=discount)
    lm.fit([grams], P)
    return lm


@pytest.mark.parametrize("n", [2, 3, 4])
def test_equals_nltk_where_both_define_the_same_quantity(n):
    """nltk's interpolated KN uses one discount for every order and no discount (nor uniform
    floor) at the unigram level: the same quantity is ours with discount [0, D, ..., D]."""
    s = S[:200]
    D = 0.75
    lm = _nltk(s, n, D)
    t = count_ngrams(s, n, V, discount=[0.0] + [D] * (n - 1))
    words = sorted(set(int(w) for w in s[1:]))
    compared = 0
    for h in _contexts(s, n):
        for w in words:
            want = lm.score(f"t{w}", [f"t{x}" for x in h])
            assert want > 0
            np.testing.assert_allclose(t.prob(h, w), want, rtol=1e-6, atol=1e-12)
            compared += 1
    assert compared >= 14 * len(words)


def test_where_nltk_gives_zero_or_inf_or_fails_the_zoo_is_finite_and_normalised():
    from nltk.lm import KneserNeyInterpolated
    from nltk.lm.preprocessing import padded_everygram_pipeline

    n, s = 3, S[:200]
    lm, t = _nltk(s, n, 0.75), count_ngrams(s, n, V)
    for h in (_contexts(s, n)[0], (UNSEEN, UNSEEN)):
        ctx = [f"t{x}" for x in h]
        # An unseen word (nltk maps it to <UNK>, whose unigram continuation count is 0).
        assert lm.score(f"t{UNSEEN}", ctx) == 0.0 and lm.logscore(f"t{UNSEEN}", ctx) == -math.inf
        assert lm.score("<UNK>", ctx) == 0.0
        p = t.distribution(h)
        assert np.all(p > 0) and abs(p.sum() - 1) < 1e-12
        assert math.isfinite(t.log_prob(h, UNSEEN))
    # Order 1: nltk's unigram score divides by the number of bigram types, which it never counts.
    sents = [["a", "b"], ["b", "c", "a"]]
    lm1 = KneserNeyInterpolated(1)
    lm1.fit(*padded_everygram_pipeline(1, sents))
    with pytest.raises(ZeroDivisionError):
        lm1.score("a")
    p1 = count_ngrams(s, 1, V).distribution([])
    assert np.all(p1 > 0) and abs(p1.sum() - 1) < 1e-12
    # nltk's own sentence padding: a lower-order gamma takes N1+(h .) from raw counts, where
    # "<s> <s>" (the first bigram of a sentence) has no left neighbour, so p(. | <s>) at the
    # middle order sums to 1 + D/F (F distinct first words) and the trigram level inherits it.
    lm3 = KneserNeyInterpolated(3, discount=0.75)
    lm3.fit(*padded_everygram_pipeline(3, sents))
    np.testing.assert_allclose(sum(lm3.score(w, ["<s>"]) for w in lm3.vocab), 1 + 0.75 / 2)
    for h in [(EOS, EOS), (EOS,)]:
        assert abs(t.distribution(h).sum() - 1) < 1e-12


# -- normalisation ---------------------------------------------------------------------------
@pytest.mark.parametrize("n,modified", [(1, False), (2, True), (3, False), (3, True), (5, False), (5, True)])
def test_every_distribution_sums_to_one_and_is_positive(n, modified):
    s = _stream(1, 600)
    t = count_ngrams(s, n, V, modified=modified)
    contexts = _contexts(s, n)[::7] + _contexts(s, n)[-5:]
    for h in contexts:
        p = t.distribution(h)
        assert np.all(p > 0), h
        assert abs(p.sum() - 1) < 1e-9, (h, p.sum())
        for w in (0, 2, UNSEEN):
            np.testing.assert_allclose(t.prob(h, w), p[w], rtol=1e-12)
    m = NGramLM(order=n, vocab_size=V, modified=modified, table_sizes=t.sizes).assign_tables(t)
    # The graph's distribution after h: the last logits of ids = h (any token for order 1).
    ids = np.array([list(h) if n > 1 else [2] for h in contexts], np.int32)
    p = np.exp(np.asarray(m(ids), np.float64))[:, -1]
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(p, [t.distribution(h) for h in contexts], rtol=1e-5)


# -- the Keras model -------------------------------------------------------------------------
def _model(n, modified=False, seed=2):
    s = _stream(seed, 500)
    t = count_ngrams(s, n, V, modified=modified)
    return t, NGramLM(order=n, vocab_size=V, modified=modified, table_sizes=t.sizes).assign_tables(t), s


@pytest.mark.parametrize("n,modified", [(1, False), (3, True), (4, False)])
def test_call_and_step_equal_the_numpy_reference(n, modified):
    t, m, s = _model(n, modified)
    rng = np.random.default_rng(5)
    ids = np.stack([s[100:112], rng.integers(0, V, 12)]).astype(np.int32)   # incl. unseen ids
    got = np.asarray(m(ids))
    assert got.shape == (2, 12, V) and got.dtype == np.float32
    for b in range(2):
        for i in range(12):
            np.testing.assert_allclose(got[b, i], np.log(t.distribution(ids[b, :i + 1])), atol=1e-5)
        ref = t.score_stream(ids[b])
        np.testing.assert_allclose(got[b, np.arange(11), ids[b, 1:]], ref, atol=1e-5)
        scalar = [t.log_prob(ids[b, :i], ids[b, i]) for i in range(1, 5)]
        np.testing.assert_allclose(ref[:4], scalar, atol=1e-12)
    # step from initial_state, traced once with an unknown batch size, equals call.
    step = tf.function(m.step)
    state = m.initial_state(tf.constant(2))
    assert state[0].shape == (2, n - 1) and state[0].dtype == tf.int32 and not np.any(state[0].numpy())
    for i in range(12):
        logits, state = step(tf.constant(ids[:, i]), state)
        np.testing.assert_allclose(logits.numpy(), got[:, i], atol=1e-5)
    assert m.context_length == n and not m.trainable_weights


def test_output_at_t_reads_only_the_last_order_minus_one_tokens():
    n = 3
    _, m, s = _model(n)
    ids = s[None, 50:70].astype(np.int32)
    base = np.asarray(m(ids))[0]
    t = 10
    later = ids.copy()
    later[0, t + 1:] = (later[0, t + 1:] + 1) % V
    np.testing.assert_array_equal(np.asarray(m(later))[0, :t + 1], base[:t + 1])
    early = ids.copy()
    early[0, :t - n + 2] = (early[0, :t - n + 2] + 3) % V
    np.testing.assert_array_equal(np.asarray(m(early))[0, t], base[t])
    near = ids.copy()
    near[0, t - n + 2] = (near[0, t - n + 2] + 1) % (V - 2)
    assert np.abs(np.asarray(m(near))[0, t] - base[t]).max() > 1e-3


def test_keras_round_trip_after_assign_tables(tmp_path):
    _, m, s = _model(4, modified=True)
    ids = np.stack([s[:9], s[9:18]]).astype(np.int32)
    want = np.asarray(m(ids))
    m.save(tmp_path / "ngram.keras")
    loaded = keras.models.load_model(tmp_path / "ngram.keras")
    assert type(loaded) is NGramLM and loaded.get_config() == m.get_config()
    np.testing.assert_array_equal(np.asarray(loaded(ids)), want)
    clone = NGramLM.from_config(m.get_config())
    assert clone.table_sizes == m.table_sizes
    assert np.unique(np.asarray(clone(ids))).tolist() == [np.float32(-np.log(V))]   # not yet counted


def test_an_uncounted_model_is_uniform():
    m = NGramLM(order=3, vocab_size=V)
    assert m.table_sizes == [0, 0, 0]
    np.testing.assert_allclose(np.asarray(m(np.array([[0, 3, 4]], np.int32))), -np.log(V), rtol=1e-6)
    log_prob, tokens = m.score_texts(tf.ragged.constant([[3, 4], []], tf.int32))
    np.testing.assert_allclose(log_prob.numpy(), [-3 * np.log(V), -np.log(V)], rtol=1e-6)
    logits, _ = m.step(tf.constant([3]), m.initial_state(1))
    np.testing.assert_allclose(logits.numpy(), -np.log(V), rtol=1e-6)


def test_bad_input_raises_one_clear_value_error():
    with pytest.raises(ValueError, match="order must be an integer in 1..20, got 21"):
        count_ngrams(S, 21, V)
    with pytest.raises(ValueError, match="order must be"):
        count_ngrams(S, 0, V)
    with pytest.raises(ValueError, match="the stream has 3 tokens, fewer than the order 4"):
        count_ngrams(S[:3], 4, V)
    with pytest.raises(ValueError, match="token id 12 is outside the vocabulary 0..11"):
        count_ngrams(np.array([0, 3, 12, 4]), 2, V)
    with pytest.raises(ValueError, match="discount"):
        count_ngrams(S, 2, V, discount=[0.5, 1.5])
    with pytest.raises(ValueError, match="order must be"):
        NGramLM(order=21, vocab_size=V)
    with pytest.raises(ValueError, match="table_sizes must be 3 non-negative integers"):
        NGramLM(order=3, vocab_size=V, table_sizes=[1, 2])
    t = count_ngrams(S, 3, V)
    with pytest.raises(ValueError, match=r"table_sizes is \[.*\] in the tables and \[0, 0, 0\] in the model"):
        NGramLM(order=3, vocab_size=V).assign_tables(t)
    with pytest.raises(ValueError, match="order is 3 in the tables and 2 in the model"):
        NGramLM(order=2, vocab_size=V, table_sizes=t.sizes[:2]).assign_tables(t)
    with pytest.raises(ValueError, match="modified is False in the tables and True"):
        NGramLM(order=3, vocab_size=V, modified=True, table_sizes=t.sizes).assign_tables(t)


# -- scoring by lookups (issue 27) -----------------------------------------------------------
@pytest.fixture(scope="module")
def real_text():
    """A character model of order 4 counted on real English (Python's help topics), and texts
    it never saw: several lengths, unknown characters, one character, none."""
    from pydoc_data.topics import topics

    from zoo.models.lm.tokenizers import fit_tokenizer

    docs = [topics[k] for k in sorted(topics)]
    train, held = docs[:40], docs[40:]
    tok = fit_tokenizer("char", train, 60)
    stream = np.concatenate([[EOS]] + [np.append(tok.encode_array(d), EOS) for d in train]).astype(np.int32)
    texts = [held[0][:3000], held[1][:700], held[2][:41] + "\u2603\u00e9", "x", ""]
    return count_ngrams(stream, 4, tok.vocab_size), [tok.encode_array(t) for t in texts]


def test_score_texts_looks_up_what_the_reference_and_the_full_distributions_give(real_text):
    """The lookup path (NGramLM.score_texts: hash tables or binary search, in chunks of any
    size, the context carried over) equals NGramTables.score_stream and `prob` per text, and
    the full-distribution path (score_ids), to 1e-6 in bits per character."""
    tables, ids = real_text
    m = NGramLM(order=4, vocab_size=tables.vocab_size, table_sizes=tables.sizes).assign_tables(tables)
    ragged = tf.ragged.constant([x.tolist() for x in ids], tf.int32)
    want = np.array([tables.score_stream(np.concatenate([[EOS], x, [EOS]])).sum() for x in ids])
    tokens = np.array([len(x) + 1 for x in ids])
    first = ids[2][:12]
    by_prob = sum(tables.log_prob(first[:i], first[i]) for i in range(len(first)))
    np.testing.assert_allclose(tables.score_stream(np.concatenate([[EOS], first]))[:12].sum(), by_prob, rtol=1e-12)
    index = NGramIndex(m)
    # Chunks of 977 end inside texts, of 5 and 1 also inside the <eos> padding (short texts only:
    # eagerly, a chunk costs ~50 ops).
    for chunk, idx, rows in [(1 << 18, index, 5), (1 << 18, None, 5), (977, index, 5), (5, None, 3), (1, index, 3)]:
        log_prob, n = m.score_texts(ragged[-rows:], idx, chunk=chunk)
        assert log_prob.dtype == tf.float32 and n.numpy().tolist() == tokens[-rows:].tolist()
        np.testing.assert_allclose(log_prob.numpy(), want[-rows:], rtol=1e-6)
        np.testing.assert_allclose(log_prob.numpy() / tokens[-rows:] / math.log(2),
                                   want[-rows:] / tokens[-rows:] / math.log(2), atol=1e-6)
    old, n = score_ids(m, ragged.to_tensor(), ragged.row_lengths())
    np.testing.assert_allclose(old.numpy() / tokens / math.log(2), want / tokens / math.log(2), atol=1e-6)


def _read_arpa(path):
    """{k: {words tuple: (log10 p, log10 back-off or None)}} and the header counts."""
    counts, grams, k = {}, {}, 0
    for line in open(path, encoding="utf-8").read().splitlines():
        if line.startswith("ngram "):
            a, b = line[6:].split("=")
            counts[int(a)] = int(b)
        elif line.endswith("-grams:"):
            k = int(line[1:line.index("-")])
            grams[k] = {}
        elif line and k and not line.startswith("\\"):
            cols = line.split("\t")
            grams[k][tuple(cols[1].split(" "))] = (float(cols[0]), float(cols[2]) if len(cols) > 2 else None)
    return counts, grams


def _arpa_log10_prob(grams, n, context, w):
    """The back-off reading of an ARPA file: the longest stored (h w), times the back-off
    weights of the stored contexts longer than its h."""
    h = list(context)[-(n - 1):] if n > 1 else []
    total = 0.0
    for start in range(len(h) + 1):
        gram = tuple(h[start:] + [w])
        if gram in grams[len(gram)]:
            return total + grams[len(gram)][gram][0]
        ctx = tuple(h[start:])
        if ctx and ctx in grams[len(ctx)]:
            total += grams[len(ctx)][ctx][1]
    raise AssertionError(f"{w} is not a unigram")


@pytest.mark.parametrize("n,modified", [(1, False), (3, True)])
def test_the_arpa_file_gives_the_zoo_probabilities_under_back_off(tmp_path, n, modified):
    """write_arpa: every stored k-gram with log10 p and log10 gamma, all ids as unigrams, <s>
    and </s> added; reading it the back-off way (as KenLM and SRILM do) gives `prob` for
    every context of the stream and contexts never seen."""
    t = count_ngrams(S, n, V, modified=modified)
    t.write_arpa(tmp_path / "lm.arpa")
    counts, grams = _read_arpa(tmp_path / "lm.arpa")
    words = ["<eos>", "<unk>"] + [str(i) for i in range(2, V)]
    assert counts == {1: V + 2, **{k: t.keys[k].size for k in range(2, n + 1)}}
    assert {g[0] for g in grams[1]} == set(words) | {"<s>", "</s>"} and grams[1][("<s>",)][0] == -99
    for k in range(2, n + 1):
        assert len(grams[k]) == t.keys[k].size
    for h in _contexts(S, n):
        for w in range(V):
            want = math.log10(t.prob(h, w))
            assert _arpa_log10_prob(grams, n, [words[i] for i in h], words[w]) == pytest.approx(want, abs=2e-6)
    with pytest.raises(ValueError, match=f"words must be {V} distinct non-empty strings without white space"):
        t.write_arpa(tmp_path / "bad.arpa", words=["a b"] + words[1:])

"""The text-generation metrics of zoo/eval/textgen.py against their references: nltk's BLEU
(corpus_bleu / sentence_bleu, test extra), closed forms and scipy's sqrtm for the Fréchet
distance, sklearn's Ledoit-Wolf ratio, mauve-text's compute_mauve (test extra), and the defining
cases of Kynkäänniemi et al.'s precision and recall."""
import json
import math
import random
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo.errors import ZooError
from zoo.eval import textgen as T

nltk_bleu = pytest.importorskip("nltk.translate.bleu_score")
SF = nltk_bleu.SmoothingFunction()
NLTK_SMOOTHING = {"none": SF.method0, "add_epsilon": SF.method1, "add_one": SF.method2}


def _nltk_corpus(list_of_refs, hyps, max_n, smoothing):
    with warnings.catch_warnings():   # method0 warns on every zero precision
        warnings.simplefilter("ignore")
        return nltk_bleu.corpus_bleu(list_of_refs, hyps, weights=(1 / max_n,) * max_n,
                                     smoothing_function=NLTK_SMOOTHING[smoothing])


def _nltk_sentence_mean(refs, hyps, max_n, smoothing):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sum(nltk_bleu.sentence_bleu(refs, h, weights=(1 / max_n,) * max_n,
                                           smoothing_function=NLTK_SMOOTHING[smoothing])
                   for h in hyps) / len(hyps)


def _random_set(rng, vocab, count, lengths=(0, 1, 2, 3, 4, 5, 7, 11)):
    return [[rng.randrange(vocab) for _ in range(rng.choice(lengths))] for _ in range(count)]


# -- BLEU ------------------------------------------------------------------------------------
def test_bleu_equals_nltk_on_random_small_sets():
    """Tiny vocabularies (many repeated n-grams and ties in the clipping), hypotheses shorter
    than n or empty, no shared n-gram at all: equal to nltk to 1e-9 for every smoothing, both
    aggregates, orders 1-5."""
    rng = random.Random(23)
    seen_zero = seen_short = 0
    for case in range(120):
        vocab = rng.choice([2, 3, 6, 40])
        hyps = _random_set(rng, vocab, rng.randint(1, 6))
        refs = _random_set(rng, vocab, rng.randint(1, 6))
        if case % 10 == 0:   # an empty intersection: the references use other tokens
            refs = [[t + 1000 for t in r] for r in refs]
        max_n = rng.choice([1, 2, 3, 4, 4, 5])
        for smoothing in NLTK_SMOOTHING:
            ours = T.bleu(hyps, refs, max_n=max_n, smoothing=smoothing)
            assert ours.value == pytest.approx(_nltk_corpus([refs] * len(hyps), hyps, max_n, smoothing),
                                               abs=1e-9, rel=1e-9)
            sent = T.bleu(hyps, refs, max_n=max_n, smoothing=smoothing, aggregate="sentence_mean")
            assert sent.value == pytest.approx(_nltk_sentence_mean(refs, hyps, max_n, smoothing),
                                               abs=1e-9, rel=1e-9)
        seen_zero += ours.value == 0
        seen_short += any(len(h) < max_n for h in hyps)
    assert seen_zero > 5 and seen_short > 20   # the edge cases were exercised


def test_bleu_brevity_ties_go_to_the_shorter_reference_and_strings_work():
    hyp = ["the", "cat", "sat", "on", "a", "mat"]             # length 6
    refs = [["the", "cat", "sat", "on", "the", "red", "mat"],   # 7
            ["a", "cat", "sat", "on", "mat"]]                   # 5: tie with 7, the shorter wins
    r = T.bleu([hyp], refs, smoothing="add_epsilon")
    assert r.reference_length == 5 and r.brevity_penalty == 1.0
    assert r.value == pytest.approx(_nltk_corpus([refs], [hyp], 4, "add_epsilon"), abs=1e-12)
    short = T.bleu([hyp[:4]], refs, smoothing="add_epsilon")
    assert short.reference_length == 5 and short.brevity_penalty == pytest.approx(math.exp(1 - 5 / 4))


def test_bleu_is_exact_with_a_vocabulary_too_large_for_plain_int64_codes():
    """60,000 distinct tokens: 60000**4 > 2**62, so 4-gram codes go through the dense-rank
    compaction; the score still equals nltk's."""
    rng = random.Random(5)
    words = list(range(60000))
    rng.shuffle(words)
    refs = [words[i:i + 12] for i in range(0, 60000, 12)]
    hyps = [refs[3][:8], refs[7][2:] + refs[8][:3], [words[0], words[1], words[5], words[9]]]
    ours = T.bleu(hyps, refs, smoothing="add_epsilon")
    assert ours.value == pytest.approx(_nltk_corpus([refs] * 3, hyps, 4, "add_epsilon"), abs=1e-12)
    assert ours.n_references == 5000


def test_bleu_smoothing_names_and_the_result_record():
    hyps, refs = [["a", "b", "c", "d", "e"]], [["a", "b", "x", "d", "e"]]
    assert T.bleu(hyps, refs).value == 0.0                      # no 4-gram match, no smoothing
    assert T.bleu(hyps, refs, smoothing="floor").smoothing == "add_epsilon"   # alias, named
    r = T.bleu(hyps, refs, smoothing="method1")
    d = r.to_dict()
    assert d["smoothing"] == "add_epsilon" and d["aggregate"] == "corpus" and d["max_n"] == 4
    assert d["n_hypotheses"] == 1 and d["n_references"] == 1 and 0 < d["value"] < 1
    assert d["precisions"][0] == pytest.approx(4 / 5)
    json.dumps(d)
    with pytest.raises(T.TextgenInputError, match="unknown BLEU smoothing 'method7'"):
        T.bleu(hyps, refs, smoothing="method7")


# -- self-BLEU -------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.integers(0, 3), max_size=7), min_size=2, max_size=6),
       st.sampled_from(list(NLTK_SMOOTHING)), st.integers(1, 4))
def test_leave_one_out_self_bleu_equals_nltk_with_the_others_as_references(samples, smoothing, max_n):
    others = [samples[:i] + samples[i + 1:] for i in range(len(samples))]
    ours = T.self_bleu(samples, max_n=max_n, smoothing=smoothing)
    assert ours.value == pytest.approx(_nltk_corpus(others, samples, max_n, smoothing), abs=1e-9)
    assert ours.n_hypotheses == len(samples) and ours.n_references == len(samples) - 1
    assert ours.definition == "leave_one_out"


def test_self_bleu_of_identical_sentences_is_one_by_both_definitions():
    s = ["we", "are", "all", "the", "same", "here"]
    assert T.self_bleu([s] * 5).value == pytest.approx(1.0)
    assert T.self_bleu([s] * 5, second=[s] * 3, definition="independent").value == pytest.approx(1.0)
    assert T.self_bleu([s] * 5, aggregate="sentence_mean").value == pytest.approx(1.0)


def test_a_sample_never_counts_against_itself():
    """[A, A, B]: each A is matched by the other A; B, unique, is matched by nothing (counting
    B against a reference list that holds B would match all of it)."""
    a = ["the", "quick", "brown", "fox", "jumps"]
    b = ["lorem", "ipsum", "dolor", "sit", "amet"]
    r = T.self_bleu([a, a, b], max_n=2)
    assert r.precisions == pytest.approx((10 / 15, 8 / 12))
    # n-gram by n-gram: with a repeated 2-gram, one copy in another sample clips at 1.
    c = ["x", "y", "x", "y"]
    d = ["x", "y", "z", "w"]
    r = T.self_bleu([c, d], max_n=2)
    # c: unigrams x,y,x,y vs d's max counts x:1,y:1 -> 2 of 4; bigrams xy,yx,xy vs d: xy:1 -> 1.
    # d: x,y,z,w vs c: x:2,y:2 -> 2 of 4; bigrams xy,yz,zw vs c: xy:2 -> 1.
    assert r.precisions == pytest.approx((4 / 8, 2 / 6))


def test_independent_self_bleu_is_bleu_against_the_second_set():
    rng = random.Random(1)
    a, b = _random_set(rng, 5, 8), _random_set(rng, 5, 9)
    r = T.self_bleu(a, second=b, definition="independent", smoothing="add_epsilon")
    assert r.value == T.bleu(a, b, smoothing="add_epsilon").value
    assert r.to_dict()["definition"] == "independent" and r.n_references == 9


def test_self_bleu_refuses_what_it_cannot_define():
    with pytest.raises(T.TextgenInputError, match="at least 2 samples"):
        T.self_bleu([["a", "b"]])
    with pytest.raises(T.TextgenInputError, match="needs a second sample set"):
        T.self_bleu([["a"], ["b"]], definition="independent")
    with pytest.raises(T.TextgenInputError, match="unknown self-BLEU definition"):
        T.self_bleu([["a"], ["b"]], definition="texygen")


# -- distinct n-grams ------------------------------------------------------------------------
def test_distinct_ngrams_over_a_fixed_number_of_samples():
    rng = random.Random(2)
    samples = _random_set(rng, 4, 50)
    r = T.distinct_ngrams(samples, n=3, limit=30)
    grams = [tuple(s[i:i + 3]) for s in samples[:30] for i in range(len(s) - 2)]
    assert (r.unique, r.total, r.n_samples, r.limit) == (len(set(grams)), len(grams), 30, 30)
    assert r.ratio == pytest.approx(len(set(grams)) / len(grams))
    assert T.distinct_ngrams(samples, n=1).n_samples == 50
    assert T.distinct_ngrams([["a"], []], n=2).to_dict() == {
        "n": 2, "unique": 0, "total": 0, "ratio": 0.0, "n_samples": 2, "limit": None}
    with pytest.raises(T.TextgenInputError, match="needs 100 samples, got 50"):
        T.distinct_ngrams(samples, n=4, limit=100)


def test_tokenize_words_rule():
    assert T.tokenize_words("Don't  stop,now!") == ["Don", "'", "t", "stop", ",", "now", "!"]
    assert T.tokenize is T.tokenize_words


def test_bad_text_input_is_one_line_zoo_error():
    cases = [
        (lambda: T.bleu([], [["a"]]), "hypotheses is empty"),
        (lambda: T.bleu([["a"]], []), "references is empty"),
        (lambda: T.bleu(["a text, not tokens"], [["a"]]), r"hypotheses\[0\] is a string"),
        (lambda: T.bleu("one string", [["a"]]), "is one string"),
        (lambda: T.self_bleu([]), "samples is empty"),
    ]
    for call, match in cases:
        with pytest.raises(T.TextgenInputError, match=match) as info:
            call()
        assert isinstance(info.value, ZooError) and "\n" not in str(info.value)


# -- Fréchet distance ------------------------------------------------------------------------
def _rotation(rng, d):
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return q


def test_trace_sqrt_product_closed_form_for_commuting_covariances():
    rng = np.random.default_rng(0)
    q = _rotation(rng, 6)
    a, b = rng.uniform(0.1, 3, 6), rng.uniform(0.1, 3, 6)
    c1, c2 = (q * a) @ q.T, (q * b) @ q.T
    assert T.trace_sqrt_product(c1, c2) == pytest.approx(np.sum(np.sqrt(a * b)), rel=1e-10)
    a[:3] = 0   # singular C1: no Cholesky factor, the eigen square root
    c1 = (q * a) @ q.T
    assert T.trace_sqrt_product(c1, c2) == pytest.approx(np.sum(np.sqrt(a * b)), rel=1e-7)


def test_frechet_distance_estimates_the_gaussian_closed_form():
    """Large samples of N(mu1, diag a) and N(mu2, diag b): FD -> |mu1-mu2|^2 + sum (sqrt a -
    sqrt b)^2. The tolerance covers the estimate's sampling error at n = 20000, d = 4."""
    rng = np.random.default_rng(1)
    mu1, mu2 = np.array([0.0, 1, 2, 3]), np.array([0.5, 1, 1.5, 3])
    a, b = np.array([1.0, 2, 0.5, 4]), np.array([1.0, 0.5, 2, 1])
    x = mu1 + rng.normal(size=(20000, 4)) * np.sqrt(a)
    y = mu2 + rng.normal(size=(20000, 4)) * np.sqrt(b)
    exact = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    r = T.frechet_distance(x, y)
    assert r.value == pytest.approx(exact, rel=0.05)
    assert (r.n_x, r.n_y, r.dim, r.shrinkage) == (20000, 20000, 4, None)


def test_frechet_distance_is_symmetric_zero_on_itself_and_equals_the_sqrtm_formula():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 8)) @ rng.normal(size=(8, 8))
    y = rng.normal(size=(250, 8)) @ rng.normal(size=(8, 8)) + 0.3
    cx, cy = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    ref = np.sum((x.mean(0) - y.mean(0)) ** 2) + np.trace(cx + cy - 2 * scipy_linalg.sqrtm(cx @ cy).real)
    xy, yx = T.frechet_distance(x, y).value, T.frechet_distance(y, x).value
    assert xy == pytest.approx(ref, rel=1e-9) and yx == pytest.approx(xy, rel=1e-9)
    same = T.frechet_distance(x, x.copy())
    assert same.value <= 1e-8 * np.trace(cx) and same.value >= 0


def test_frechet_distance_under_mode_collapse_is_finite_and_non_negative():
    """Three distinct points repeated (rank-2 covariance, where sqrtm gives complex values):
    real, finite, >= 0; with fewer samples than dimensions only under a named shrinkage."""
    rng = np.random.default_rng(3)
    real = rng.normal(size=(200, 16))
    collapsed = real[rng.integers(0, 3, 200)]
    r = T.frechet_distance(real, collapsed)
    assert np.isfinite(r.value) and r.value > 0 and isinstance(r.value, float)
    assert T.frechet_distance(collapsed, real).value == pytest.approx(r.value, rel=1e-6)
    with pytest.raises(T.TextgenInputError, match=r"needs at least 17 samples per set .* got n_x=200, n_y=10"):
        T.frechet_distance(real, real[:10])
    lw = T.frechet_distance(real, real[:10], shrinkage="ledoit_wolf")
    assert lw.shrinkage == "ledoit_wolf" and 0 < lw.shrinkage_y <= 1 and np.isfinite(lw.value)
    fixed = T.frechet_distance(real, real[:10], shrinkage=0.5).to_dict()
    assert fixed["shrinkage"] == "fixed" and fixed["shrinkage_x"] == 0.5 and fixed["n_y"] == 10


def test_ledoit_wolf_ratio_equals_sklearn():
    covariance = pytest.importorskip("sklearn.covariance")
    rng = np.random.default_rng(4)
    for n, d in ((10, 20), (50, 5), (200, 30)):
        x = rng.normal(size=(n, d)) * rng.uniform(0.5, 2, d)
        assert T.ledoit_wolf_ratio(x) == pytest.approx(covariance.ledoit_wolf_shrinkage(x), rel=1e-9)


def test_bad_features_are_one_line_zoo_errors():
    x = np.zeros((30, 4))
    nan = x.copy()
    nan[7, 2] = np.nan
    cases = [
        (lambda: T.frechet_distance(nan, x), r"NaN or infinite values \(first in row 7\)"),
        (lambda: T.frechet_distance(x, np.zeros((30, 5))), "dimension 4 but y embeddings has 5"),
        (lambda: T.frechet_distance(np.zeros((0, 4)), x), "empty"),
        (lambda: T.frechet_distance(x, x, shrinkage="oas"), "shrinkage must be"),
        (lambda: T.mauve(x, np.zeros((30, 3))), "dimension 4 but q_features has 3"),
        (lambda: T.precision_recall(x[:3], x), "needs at least 4 real samples, got 3"),
        (lambda: T.precision_recall(x, [[np.inf] * 4] * 5), "NaN or infinite"),
    ]
    for call, match in cases:
        with pytest.raises(T.TextgenInputError, match=match) as info:
            call()
        assert "\n" not in str(info.value)


# -- MAUVE -----------------------------------------------------------------------------------
def test_mauve_agrees_with_mauve_text_on_the_same_features():
    """Tolerance: the two means within 3 standard deviations of their difference over 5 k-means
    seeds each (plus 0.02): the k-means seedings differ (k-means++ here, faiss's random there),
    the rest of the algorithm is the same."""
    mauve_text = pytest.importorskip("mauve")
    rng = np.random.default_rng(5)
    p = rng.normal(size=(400, 16))
    q = rng.normal(size=(400, 16)) + 0.2
    seeds = (0, 1, 2, 3, 4)
    ours = T.mauve(p, q, seeds=seeds, kmeans_redo=1)
    theirs = [mauve_text.compute_mauve(p_features=p, q_features=q, seed=s, kmeans_num_redo=1,
                                       kmeans_max_iter=100).mauve for s in seeds]
    assert abs(ours.value - np.mean(theirs)) <= 3 * math.hypot(ours.std, np.std(theirs)) + 0.02
    assert ours.num_buckets == 40 and ours.n_p == ours.n_q == 400 and len(ours.values) == 5
    assert ours.to_dict()["seeds"] == [0, 1, 2, 3, 4]


def test_mauve_is_deterministic_one_for_identical_sets_and_falls_with_the_gap():
    rng = np.random.default_rng(6)
    p = rng.normal(size=(300, 8))
    same = T.mauve(p, p.copy(), seeds=(0, 1), kmeans_redo=1)
    assert same.value == pytest.approx(1.0, abs=1e-6)
    near = T.mauve(p, rng.normal(size=(300, 8)) + 0.3, seeds=(3,), kmeans_redo=1)
    far = T.mauve(p, rng.normal(size=(300, 8)) + 3.0, seeds=(3,), kmeans_redo=1)
    assert far.value < near.value < 1
    assert T.mauve(p, p[::-1] + 0.3, seeds=(7,), kmeans_redo=1).values == \
        T.mauve(p, p[::-1] + 0.3, seeds=(7,), kmeans_redo=1).values


def test_mauve_from_histograms_edge_cases():
    h = np.array([0.5, 0.5, 0.0])
    assert T.mauve_from_histograms(h, h) == pytest.approx(1.0)
    disjoint = T.mauve_from_histograms(np.array([1.0, 0, 0]), np.array([0, 0.5, 0.5]))
    assert 0 <= disjoint < 0.01


# -- precision and recall --------------------------------------------------------------------
def test_precision_recall_defining_cases():
    rng = np.random.default_rng(7)
    real = rng.normal(size=(400, 10))
    assert T.precision_recall(real, real.copy()).to_dict() == {
        "precision": 1.0, "recall": 1.0, "k": 3, "n_real": 400, "n_fake": 400, "dim": 10, "encoder": None}
    collapsed = real[rng.integers(0, 4, 400)]   # every fake on one of 4 real points
    pr = T.precision_recall(real, collapsed)
    assert pr.precision == 1.0 and pr.recall <= 4 / 400 + 1e-12
    far = T.precision_recall(real, real + 100.0)
    assert (far.precision, far.recall) == (0.0, 0.0)
    half = T.precision_recall(real, np.vstack([real[:200], real[:200] + 100.0]), k=5)
    assert half.precision == 0.5 and half.k == 5


def test_precision_recall_equals_a_direct_computation_across_blocks(monkeypatch):
    """Blocks of 7 rows (the memory bound forced small): same as the all-pairs definition."""
    monkeypatch.setattr(T, "_CHUNK_ELEMENTS", 7 * 120)
    rng = np.random.default_rng(8)
    real, fake = rng.normal(size=(120, 5)), rng.normal(size=(90, 5)) * 1.3 + 0.2
    d_rr = np.sqrt(((real[:, None] - real[None]) ** 2).sum(-1))
    d_ff = np.sqrt(((fake[:, None] - fake[None]) ** 2).sum(-1))
    d_fr = np.sqrt(((fake[:, None] - real[None]) ** 2).sum(-1))
    k = 3
    rad_r = np.sort(d_rr, axis=1)[:, k]      # column 0 is the point itself
    rad_f = np.sort(d_ff, axis=1)[:, k]
    precision = np.mean((d_fr <= rad_r[None, :]).any(axis=1))
    recall = np.mean((d_fr.T <= rad_f[None, :]).any(axis=1))
    pr = T.precision_recall(real, fake, k=k)
    assert (pr.precision, pr.recall) == (precision, recall)


# -- split metrics ---------------------------------------------------------------------------
def _run_split(metric, batches, name):
    state = metric.start()
    for batch in batches:
        state = metric.add(state, {metric.inputs[0]: batch})
    return metric.values(name, state)


def test_split_metric_adapters_reduce_the_gathered_rows_with_the_functions():
    rng = np.random.default_rng(9)
    rows = rng.integers(0, 5, size=(12, 9))
    rows[:, 6:] = -1                      # padding
    rows[3, 2:] = -1
    batches = [rows[:5], rows[5:]]        # the batching must not matter
    tokens = [[int(t) for t in r if t >= 0] for r in rows]
    refs = tuple(tuple(int(t) for t in r) for r in rng.integers(0, 5, size=(7, 6)))
    b = T.BleuSplitMetric(("ids",), references=refs, smoothing="add_epsilon")
    got = _run_split(b, batches, "bleu")
    want = T.bleu(tokens, [list(r) for r in refs], smoothing="add_epsilon")
    assert got["bleu"] == want.value and got["bleu_precision_2"] == want.precisions[1]
    assert b.goal == "max"
    assert _run_split(T.SelfBleuSplitMetric(("ids",)), batches, "sb") == {"sb": T.self_bleu(tokens).value}
    d = _run_split(T.DistinctSplitMetric(("ids",), n=2, limit=10), batches, "d2")
    assert d == {"d2": T.distinct_ngrams(tokens, 2, 10).ratio,
                 "d2_unique": float(T.distinct_ngrams(tokens, 2, 10).unique)}
    assert _run_split(T.DistinctSplitMetric(("ids",), n=2, limit=13), batches, "d2") == {}

    emb = rng.normal(size=(40, 3))
    ref = rng.normal(size=(50, 3))
    f = T.FrechetSplitMetric(("emb",), reference=ref)
    assert _run_split(f, [emb[:15], emb[15:]], "fd") == {"fd": T.frechet_distance(emb, ref).value}
    assert _run_split(f, [emb[:3]], "fd") == {}      # fewer rows than dim + 1: nothing reported

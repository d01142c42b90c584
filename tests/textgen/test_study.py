"""The §5.6.3 study's perturbations and declaration (zoo/models/textgen/study.py): cheap checks
of what each perturbation keeps and removes, determinism per seed, the reference set's topics and
the table's claims naming the grid's rows."""
from collections import Counter

import numpy as np
import pytest

from zoo.models.textgen.data import TopicSentence
from zoo.models.textgen.study import (StudyError, _with_changes, collapse, load_spec, perturbed_samples,
                                      reference_set, row_name, word_dropout, word_swap)

TEXT = "the quick brown fox jumps over the lazy dog again and again"


def _sentences(topics=6, per=20):
    return [TopicSentence(f"topic {t} sentence {i} with words w{t}x{i}", t, f"T{t}", i)
            for t in range(topics) for i in range(per)]


def test_word_dropout_p0_is_identity_and_p1_empties():
    rng = np.random.default_rng(0)
    assert word_dropout(TEXT, 0.0, rng) == TEXT
    assert word_dropout(TEXT, 1.0, rng) == ""
    half = word_dropout(TEXT, 0.5, np.random.default_rng(1)).split()
    # What is kept stays in order: a subsequence of the sentence's words.
    it = iter(TEXT.split())
    assert all(w in it for w in half) and len(half) < len(TEXT.split())


def test_word_swap_keeps_the_multiset_and_moves_only_chosen_words():
    assert word_swap(TEXT, 0.0, np.random.default_rng(0)) == TEXT
    for seed in range(5):
        out = word_swap(TEXT, 1.0, np.random.default_rng(seed)).split()
        assert Counter(out) == Counter(TEXT.split())
    assert any(word_swap(TEXT, 1.0, np.random.default_rng(s)) != TEXT for s in range(5))
    some = word_swap(TEXT, 0.3, np.random.default_rng(3)).split()
    assert Counter(some) == Counter(TEXT.split())


def test_collapse_keeps_only_k_topics_and_n_distinct_samples():
    sents = _sentences()
    for k in (1, 2, 6):
        drawn = collapse(sents, k, 18, np.random.default_rng(k))
        assert len(drawn) == 18 and len({s.text for s in drawn}) == 18
        assert len({s.topic for s in drawn}) == k
    # A second draw of the same collapsed "model": same topics, other sentences.
    a = collapse(sents, 2, 10, np.random.default_rng(7), np.random.default_rng(1))
    b = collapse(sents, 2, 10, np.random.default_rng(7), np.random.default_rng(2))
    assert {s.topic for s in a} == {s.topic for s in b} and a != b
    with pytest.raises(StudyError, match="7 topics"):
        collapse(sents, 7, 10, np.random.default_rng(0))
    with pytest.raises(StudyError, match="at least 30"):   # one topic of 20 cannot give 30 distinct
        collapse(sents, 1, 30, np.random.default_rng(0))


def test_perturbed_samples_are_deterministic_per_seed():
    sents = _sentences()
    a = perturbed_samples(sents, "dropout", 0.3, 30, seed=4)
    assert a == perturbed_samples(sents, "dropout", 0.3, 30, seed=4)
    assert a != perturbed_samples(sents, "dropout", 0.3, 30, seed=5)
    assert a != perturbed_samples(sents, "dropout", 0.3, 30, seed=4, draw=1)
    # Strength 0 of any perturbation is the clean sample set of the seed (one cell, cached once).
    clean = perturbed_samples(sents, "topics", "all", 30, seed=2)
    assert perturbed_samples(sents, "swap", 0.0, 30, seed=2) == clean
    assert perturbed_samples(sents, "dropout", 0.0, 30, seed=2) == clean
    with pytest.raises(StudyError, match="unknown perturbation"):
        perturbed_samples(sents, "shuffle", 0.1, 3, seed=0)


def test_reference_set_holds_every_topic():
    sents = _sentences(topics=8, per=5)
    ref = reference_set(sents, 12)
    assert len(ref) == 12 and {s.topic for s in ref} == set(range(8))
    with pytest.raises(StudyError, match="all 8 topics"):
        reference_set(sents, 5)


def test_the_declared_table_claims_only_grid_rows():
    raw, grid, table = load_spec()
    names = {r.name for r in table.rows}
    assert {row_name(p, s) for p in grid for s in grid[p]} == names
    assert "topics_all" in names and grid["dropout"][0] == 0.0 and grid["swap"][0] == 0.0
    for c in table.claims:
        assert c.left.row in names and (c.right.row is None or c.right.row in names)


def test_changes_are_signed_worse():
    clean = {0: {"metrics": {"bleu4": 0.2, "fd": 1.0}}}
    cell = {"seed": 0, "metrics": {"bleu4": 0.1, "fd": 3.0}}
    m = _with_changes([cell], clean)[0]["metrics"]
    assert m["bleu4_worse"] == pytest.approx(0.5)     # BLEU halved: worse by 50%
    assert m["fd_worse"] == pytest.approx(2.0)        # FD tripled: worse by 200%


def test_a_cached_cell_serves_every_seed_whose_samples_it_holds_under_that_seed_s_name(tmp_path):
    """Cells are keyed by the texts and scorers: two seeds of a generator collapsed to the same
    samples share one cell, and each gets it back under its own seed (the GAN table counted the
    Conv-Deconv WGAN's three seeds of empty sentences as one)."""
    import json

    from zoo.models.textgen.study import Study

    study = Study(tmp_path, encoders={}, reference_texts=["a real sentence .", "another one ."])
    samples = ["", ""]
    path = study.cell_path(samples, None)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"row": "conv_deconv", "seed": 0, "metrics": {"fd": 22.76}}))
    for seed in (0, 1, 2):
        cell = study.score(samples, None, {"row": "conv_deconv", "seed": seed})
        assert cell["seed"] == seed and cell["metrics"] == {"fd": 22.76}
    assert study.cell_path(["other"], None) != path

"""LM score and reverse-LM score (zoo/models/textgen/scores.py): the stated definition (perplexity
per word from the export's total log-probability), the refusal of exports that cannot score, and
the reverse LM's test split on small sample sets."""
import math

import numpy as np
import pytest

from zoo.data.splits import content_hash
from zoo.export.client import open_export
from zoo.models.textgen.scores import (ScoreInputError, _test_fraction, check_texts, lm_score,
                                       open_encoder)

TEXTS = ["The cat sat on the mat.", "A dog barked at the moon tonight.", "Rain again, said nobody."]


def test_lm_score_is_perplexity_per_word_of_the_export_s_log_probability(smoke_run):
    export = smoke_run("lm").export
    r = lm_score(export, TEXTS)
    scored = open_export(export).score(TEXTS)
    words = sum(len(t.split()) + 1 for t in TEXTS)
    nll = -float(np.sum(scored["log_prob"]))
    assert r.words == words and r.texts == 3
    assert r.perplexity == pytest.approx(math.exp(nll / words), rel=1e-6)
    assert r.nll_per_word == pytest.approx(nll / words, rel=1e-6)
    assert r.bits_per_char == pytest.approx(nll / math.log(2) / float(np.sum(scored["characters"])), rel=1e-6)
    assert len(r.fingerprint) == 64 and "lm/" in r.model
    # A text made unlikelier (shuffled characters) scores worse.
    assert lm_score(export, ["".join(sorted(t)) for t in TEXTS]).perplexity > r.perplexity


def test_exports_that_cannot_score_or_encode_are_refused(smoke_run):
    with pytest.raises(Exception, match="score texts"):
        lm_score(smoke_run("textgen").export, TEXTS)
    with pytest.raises(ScoreInputError, match="not a sentence encoder of the textgen family"):
        open_encoder(smoke_run("lm").export)
    with pytest.raises(ScoreInputError, match="no text"):
        check_texts([], "samples")


def test_the_reverse_lm_keeps_one_test_sample_on_small_sets():
    texts = [f"sample number {i} of a small set" for i in range(6)]
    f = _test_fraction(texts, 0.02)
    held = [t for t in texts if content_hash(t.encode()) < f]
    assert len(held) >= 1 and len(held) < len(texts)
    with pytest.raises(ScoreInputError, match="empty"):
        _test_fraction(["", "  "], 0.02)
    with pytest.raises(ScoreInputError, match="fewer than 2 distinct"):
        _test_fraction(["same line"] * 5, 0.02)


def test_a_collapsed_generator_s_reverse_lm_is_nan_in_a_study_and_an_error_otherwise(tmp_path):
    """Samples of one repeated line (or none but empty ones) leave the reverse LM nothing to train
    on: `zoo textgen-eval` says so in one line; a study (undefined_as_nan) keeps the row, NaN."""
    from zoo.models.textgen.scores import evaluate_samples

    collapsed, reference = ["", ""], TEXTS
    with pytest.raises(ScoreInputError, match="every sample is empty"):
        evaluate_samples(collapsed, reference, workdir=tmp_path)
    m = evaluate_samples(collapsed, reference, workdir=tmp_path, undefined_as_nan=True)["metrics"]
    assert math.isnan(m["reverse_lm"]["value"]) and "every sample is empty" in m["reverse_lm"]["on"]
    assert m["bleu4"]["value"] == 0.0 and math.isfinite(m["self_bleu4_leave_one_out"]["value"])
    m = evaluate_samples(["same line"] * 3, reference, workdir=tmp_path, undefined_as_nan=True)["metrics"]
    assert math.isnan(m["reverse_lm"]["value"]) and "fewer than 2 distinct" in m["reverse_lm"]["on"]

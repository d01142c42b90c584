"""The §5.6.4 GAN comparison's declaration and its untrained parts (zoo/models/textgen/gans.py):
every row is a text-GAN recipe, the claims name declared rows, the trivial baseline draws words
as the training text does, and the temperature-dominance check reads both planes."""
from collections import Counter

import pytest

import zoo
from zoo.config import load_recipe
from zoo.models.textgen.gans import load_gan_spec, temperature_dominance, temperature_row, unigram_samples


def test_every_row_is_a_text_gan_recipe_and_claims_name_declared_rows():
    raw, table = load_gan_spec()
    names = {r.name for r in table.rows}
    assert {"lm", "real", "unigram", *map(temperature_row, raw["temperatures"])} <= names
    gan_models = set(zoo.list_models(family="textgan"))
    for row, spec in raw["rows"].items():
        config = load_recipe(spec["recipe"], list(spec.get("set") or []))
        assert config.task.name == "text_gan" and config.model.name in gan_models, row
        if spec.get("from_lm"):
            # The SeqGAN generator is the LM's: same sizes, so the LM run can start it.
            lm = load_recipe(raw["rows"]["lm"]["recipe"])
            assert config.model.name.startswith("seqgan")
            assert (config.model.args["units"], config.model.args["embedding_dim"]) == \
                (lm.model.args["units"], lm.model.args["embedding_dim"])
    for c in table.claims:
        assert c.left.row in names and (c.right.row is None or c.right.row in names)
    assert table.baseline.row == "unigram"


def test_the_unigram_baseline_draws_training_words_and_lengths():
    train = ["a b c", "a a", "b c d e", "a"]
    got = unigram_samples(train, 400, seed=3)
    assert got == unigram_samples(train, 400, seed=3) and got != unigram_samples(train, 400, seed=4)
    assert {len(t.split()) for t in got} <= {3, 2, 4, 1}
    counts = Counter(w for t in got for w in t.split())
    assert set(counts) <= {"a", "b", "c", "d", "e"}
    # "a" is 4 of the 10 training words: about 40% of the drawn ones.
    assert counts["a"] / sum(counts.values()) == pytest.approx(0.4, abs=0.06)
    assert temperature_row(0.8) == "lm_t080" and temperature_row(1.25) == "lm_t125"


def _cells(**rows):
    return {name: [{"metrics": dict(zip(("lm_score", "reverse_lm", "bleu4", "self_bleu4"), v))}]
            for name, v in rows.items()}


def test_a_gan_is_dominated_only_by_a_temperature_better_on_both_axes():
    raw = {"temperatures": [0.8, 1.2], "rows": {"lm": {}, "seqgan_reinforce": {}, "seqgan_step": {},
                                                 "conv_lstm": {}}}
    cells = _cells(lm=(30.0, 80.0, 0.20, 0.20), lm_t080=(20.0, 120.0, 0.25, 0.30),
                   lm_t120=(45.0, 70.0, 0.15, 0.15),
                   seqgan_reinforce=(25.0, 100.0, 0.22, 0.25),   # between the curve's points
                   conv_lstm=(200.0, 2000.0, 0.10, 0.40))        # worse than every temperature
    d = temperature_dominance(cells, raw)
    assert d["seqgan_reinforce"] == {"lm": [], "bleu": []}
    assert d["conv_lstm"]["lm"] == ["lm", "lm_t080", "lm_t120"]
    assert d["conv_lstm"]["bleu"] == ["lm", "lm_t080", "lm_t120"]
    assert set(d) == {"seqgan_reinforce", "conv_lstm"}

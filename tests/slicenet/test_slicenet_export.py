"""SliceNet through the platform: the one trainer, the exporter's `translate`/`score`
SavedModel (through its client) against Python decoding, `zoo translate`,
the HyperModel space; and (slow) a real-corpus run that beats copying the source in BLEU."""
import json

import numpy as np
import pytest

import zoo
from zoo.cli import main as cli_main
from zoo.config import load_recipe
from zoo.export import read_manifest
from zoo.training.trainer import train

SENTENCES = ["Change password", "Arabic", "This field is required.", "Delete selected items",
             'Delete %(name)s? See <a href="https://x.org/">docs</a>.']


@pytest.fixture(scope="module")
def trained(smoke_run):
    """The session's SliceNet smoke run (recipes/slicenet/smoke.yaml: Django's EN->DE pairs,
    protected placeholders, trained by `zoo train --export`), its SentencePiece cache deleted:
    every test below (export, `zoo eval`, `zoo translate`) works from what the run folder holds."""
    shared = smoke_run("slicenet")
    return shared.run, load_recipe(shared.run / "recipe.yaml"), shared.metrics


@pytest.fixture(scope="module")
def reloaded(trained):
    """The finished run as `zoo eval` / `zoo export` see it: model.keras, the task's tokenizer
    and test pairs restored from the run's artifacts, and one Python translator shared by the
    tests below."""
    from zoo.runs import load_run, prepare_task

    run, _, _ = trained
    cfg, model = load_run(run)
    task = prepare_task(cfg, run)
    assert task.train_pairs is None   # restored from the artifacts, not read from the corpus
    return task, model, task.translator(model)


def test_trainer_reports_table2_metrics_and_bleu(trained):
    _, config, m = trained
    assert m["step"] == config.trainer.max_steps
    for key in ("loss", "accuracy", "neg_log_perplexity", "bleu", "copy_source_bleu",
                "non_embedding_parameters", "train_pairs"):
        assert key in m, key
    assert m["neg_log_perplexity"] == pytest.approx(-m["loss"])
    assert 0.0 <= m["accuracy"] <= 1.0 and m["bleu_sentences"] == config.task.options.bleu_sentences
    assert m["non_embedding_parameters"] == m["parameters"] - 120 * 24
    # The report gate's trivial baseline, on the same positions as `accuracy`.
    assert 0.0 < m["most_frequent_token_accuracy"] < 1.0


def test_most_frequent_token_accuracy_by_hand():
    from zoo.models.slicenet.task import most_frequent_token_accuracy

    train = [[5, 7, 2], [7, 2], [9, 7, 2]]          # 7 and 2 (EOS) three times each: the first wins
    assert most_frequent_token_accuracy(train, [[7, 7, 2], [4, 2]]) == 2 / 5
    assert most_frequent_token_accuracy([[5, 2], [2]], [[7, 7, 2], [4, 2]]) == 2 / 5   # EOS counts
    from zoo.data.errors import ZooDataError

    with pytest.raises(ZooDataError, match="needs training and test targets"):
        most_frequent_token_accuracy([], [[1]])


@pytest.fixture(scope="module")
def exported(smoke_run):
    return smoke_run("slicenet").export


def test_savedmodel_translate_equals_python_decoding(trained, reloaded, exported):
    """The export's client (SavedModel signatures only) translates and scores as the Python
    decoder does; the zoo-free fresh-process reload is tests/core/test_task_sweep.py's."""
    from zoo.export import open_export

    out = exported
    _, config, _ = trained
    entry = read_manifest(out)["savedmodels"][0]
    assert set(entry["signatures"]) == {"translate", "score", "source_tokens"}
    assert entry["max_source_tokens"] == 15
    assert entry["tokenizer"] == "sentencepiece" and entry["beam_size"] == config.task.options.beam_size
    assert entry["placeholders"]

    _, _, tr = reloaded
    expected = tr.translate(SENTENCES)
    client = open_export(out)
    got = client.translate(SENTENCES)
    assert got == expected
    # Scores of pairs that fit: the client's example inputs are shortened to the model's source
    # and target lengths (longer pairs are rejected, see the next test).
    feed = client.example_inputs("translate", "score")
    texts, targets = list(feed["text"]) + got[1:2], list(feed["target"]) + ["A"]
    assert max(tr.source_tokens(texts)) <= 15 and max(tr.source_tokens(targets)) <= 9
    np.testing.assert_allclose(client.score(texts, targets), tr.score(texts, targets), atol=1e-3)
    # Slots never reach the user: the graph put the source's placeholders back (or dropped them).
    assert not any("⟦" in t for t in got)

    # The CLI reads the same SavedModel.
    import io
    from contextlib import redirect_stdout
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert cli_main(["translate", str(out), SENTENCES[0]]) == 0
        assert cli_main(["translate", SENTENCES[0], "--model", str(out)]) == 0   # the earlier spelling
    assert [line.strip() for line in buf.getvalue().strip().split("\n")] == [expected[0].strip()] * 2
    assert cli_main(["translate", "x", "--model", str(out), "--language", "fr"]) == 2
    assert cli_main(["translate", str(out), "x", "--language", "fr"]) == 2


def test_long_sources_are_translated_in_pieces_never_cut(reloaded, exported):
    """A source longer than the model reads (max_source_tokens 15 here) is cut at sentence
    boundaries and each sentence translated, by the client and by the Python translator alike;
    the SavedModel's own `translate` rejects it with the limit in the message instead of
    cutting it; an empty source translates to ""."""
    import tensorflow as tf

    from zoo.export import ExportError, open_export

    _, _, tr = reloaded
    client = open_export(exported)
    head = ["Change password.", "This field is required.", "Delete selected items."] * 2
    tail = 'See <a href="https://x.org/">docs</a>.'
    long = " ".join(head + [tail])
    other = " ".join(head + ["Arabic."])   # the same first 120 characters, another last sentence
    assert client.source_tokens([long])[0] > client.max_source_tokens
    sentences = client.translate(head + [tail, "Arabic."])
    got = client.translate([long, other, "", "  \n "])
    assert got == [" ".join(sentences[:-1]), " ".join(sentences[:-2] + sentences[-1:]), "", ""]
    assert got[0] != got[1]   # the tail is translated, not dropped
    assert tr.translate([long, ""]) == [got[0], ""]   # the Python translator (zoo eval, BLEU) alike
    # The tail's placeholders get the same treatment as in a short message: none leaks as a slot.
    assert "⟦" not in got[0]

    # A TF-Serving user calling the SavedModel directly: an error naming the limit, never a cut.
    translate = client.savedmodel("translate").signatures["translate"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="at most 15 tokens"):
        translate(text=tf.constant([long]))
    assert translate(text=tf.constant(["", " "]))["translation"].numpy().tolist() == [b"", b""]
    with pytest.raises(ExportError, match="at most 15 tokens"):
        client.score([long], ["x"])


def test_zoo_eval_writes_metrics_and_translations(trained, reloaded, tmp_path):
    import sacrebleu

    run, _, final = trained
    task, _, tr = reloaded
    out = tmp_path / "eval"
    assert cli_main(["eval", str(run), "--samples", "5", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    # Same model, same test split as the trainer's final evaluation.
    assert m["loss"] == pytest.approx(final["loss"], rel=1e-4)
    assert m["accuracy"] == pytest.approx(final["accuracy"], abs=1e-6)
    assert m["neg_log_perplexity"] == pytest.approx(-m["loss"])
    assert m["bleu_sentences"] == 5 and m["parameters"] == final["parameters"]
    lines = (out / "translations.tsv").read_text(encoding="utf-8").rstrip("\n").split("\n")
    assert lines[0] == "source\treference\ttranslation"
    rows = [line.split("\t") for line in lines[1:]]
    pairs = task.test_pairs[:5]
    assert [r[:2] for r in rows] == [[p.source, p.target] for p in pairs]
    # The beam-search output of the recipe's settings, and BLEU recomputed from the file.
    assert [r[2] for r in rows] == tr.translate([p.source for p in pairs])
    refs = [[r[1] for r in rows]]
    assert m["bleu"] == pytest.approx(sacrebleu.corpus_bleu([r[2] for r in rows], refs).score)
    assert m["copy_source_bleu"] == pytest.approx(sacrebleu.corpus_bleu([r[0] for r in rows], refs).score)


def test_hypermodel_builds_from_the_default_space(trained):
    import keras_tuner as kt
    from zoo.tuning import RecipeHyperModel

    _, config, _ = trained
    hm = RecipeHyperModel(config)
    hp = kt.HyperParameters()
    hp.values.update({"model.separability": "none", "model.kernel_sizes": "3-7-15-31",
                      "model.dilations": "1-1-1-1", "model.filters": 48})
    model = hm.build(hp)
    assert model.separability == "none" and model.kernel_sizes == [3, 7, 15, 31] and model.filters == 48


# Slow tier: a result, not a mechanism; the pipeline it runs (train, BLEU, copy baseline) is the
# default tier's test_trainer_reports_table2_metrics_and_bleu and test_zoo_eval_writes_metrics_and_translations.
@pytest.mark.slow
def test_short_real_corpus_run_beats_copying_the_source(tmp_path):
    # recipes/slicenet/short_run.yaml: EN->DE, 1000 steps (several minutes on 2 cores).
    config = load_recipe("slicenet/short_run", [f"runtime.run_dir={tmp_path / 'run'}", "runtime.progress=false"])
    m = train(config, log=lambda *a, **k: None)
    assert m["step"] == config.trainer.max_steps
    assert m["bleu_sentences"] == m["test_pairs"]  # the whole test split, for both scores
    # Same test pairs, same sacrebleu settings for both numbers (TranslationTask.bleu_report).
    assert m["bleu"] > m["copy_source_bleu"], (
        f"model BLEU {m['bleu']:.2f} <= copy-the-source BLEU {m['copy_source_bleu']:.2f} on "
        f"{m['bleu_sentences']} test pairs (eval loss {m['loss']:.3f}, accuracy {m['accuracy']:.3f})")

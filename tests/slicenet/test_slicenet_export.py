"""SliceNet through the platform: the one trainer, the exporter's `translate`/`score`
SavedModel (through its client) against Python decoding, `zoo translate`,
the HyperModel space; and (slow) a real-corpus run that beats copying the source in BLEU."""
import json

import numpy as np
import pytest

import zoo
from zoo.cli import main as cli_main
from zoo.config import load_recipe
from zoo.export import export_run, read_manifest
from zoo.training.trainer import train

SENTENCES = ["Change password", "Arabic", "This field is required.", "Delete selected items",
             'Delete %(name)s? See <a href="https://x.org/">docs</a>.']


def _recipe(run_dir, **task_options):
    return load_recipe({
        "name": "tiny_slicenet",
        "model": {"name": "slicenet_super", "vocab_size": 120, "filters": 24, "encoder_modules": 1,
                  "decoder_modules": 1, "dropout": 0.0},
        "task": {"name": "translation", "max_source_length": 16, "max_target_length": 10, "beam_size": 3,
                 "bleu_sentences": 6, "placeholders": True, **task_options},
        "data": {"corpus": "django", "batch_size": 32, "max_paragraphs": 256, "max_test_paragraphs": 16},
        "trainer": {"optimizer": "adam", "learning_rate": 0.003, "weight_decay": 0.0, "max_steps": 6,
                    "eval_every_steps": 100, "checkpoint_every_steps": 100, "text_samples": 0},
        "runtime": {"run_dir": str(run_dir), "progress": False},
    })


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run trained on Django's EN->DE pairs written to a TSV file, which is deleted afterwards
    with the SentencePiece cache: every test below (export, `zoo eval`, `zoo translate`) works
    from what the run folder holds."""
    import shutil

    from zoo.models.slicenet.data import django_pairs

    root = tmp_path_factory.mktemp("slicenet")
    mp = pytest.MonkeyPatch()  # module-scoped: the SentencePiece cache stays inside this test run
    mp.setenv("ZOO_CACHE", str(root / "cache"))
    corpus = root / "pairs.tsv"
    corpus.write_text("".join(f"{p.source}\t{p.target}\t{p.language}\n" for p in django_pairs(["de"])),
                      encoding="utf-8")
    config = _recipe(root / "run").with_overrides([f"data.corpus={corpus}"])
    metrics = train(config, log=lambda *a, **k: None)
    corpus.unlink()
    shutil.rmtree(root / "cache")
    yield root, config, metrics
    mp.undo()


@pytest.fixture(scope="module")
def reloaded(trained):
    """The finished run as `zoo eval` / `zoo export` see it: model.keras, the task's tokenizer
    and test pairs restored from the run's artifacts, and one Python translator shared by the
    tests below."""
    from zoo.runs import load_run, prepare_task

    root, _, _ = trained
    cfg, model = load_run(root / "run")
    task = prepare_task(cfg, root / "run")
    assert task.train_pairs is None   # restored from the artifacts, not read from the corpus
    return task, model, task.translator(model)


def test_trainer_reports_table2_metrics_and_bleu(trained):
    _, _, m = trained
    assert m["step"] == 6
    for key in ("loss", "accuracy", "neg_log_perplexity", "bleu", "copy_source_bleu",
                "non_embedding_parameters", "train_pairs"):
        assert key in m, key
    assert m["neg_log_perplexity"] == pytest.approx(-m["loss"])
    assert 0.0 <= m["accuracy"] <= 1.0 and m["bleu_sentences"] == 6
    assert m["non_embedding_parameters"] == m["parameters"] - 120 * 24


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    root, _, _ = trained
    return export_run(root / "run", tmp_path_factory.mktemp("slicenet_export") / "export")


def test_savedmodel_translate_equals_python_decoding(reloaded, exported):
    """The export's client (SavedModel signatures only) translates and scores as the Python
    decoder does; the zoo-free fresh-process reload is tests/core/test_task_sweep.py's."""
    from zoo.export import open_export

    out = exported
    entry = read_manifest(out)["savedmodels"][0]
    assert set(entry["signatures"]) == {"translate", "score", "source_tokens"}
    assert entry["max_source_tokens"] == 15
    assert entry["tokenizer"] == "sentencepiece" and entry["beam_size"] == 3 and entry["placeholders"]

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
        assert cli_main(["translate", SENTENCES[0], "--model", str(out)]) == 0
    assert buf.getvalue().strip() == expected[0].strip()
    assert cli_main(["translate", "x", "--model", str(out), "--language", "fr"]) == 2


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

    root, _, final = trained
    task, _, tr = reloaded
    out = tmp_path / "eval"
    assert cli_main(["eval", str(root / "run"), "--samples", "5", "--out", str(out)]) == 0
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

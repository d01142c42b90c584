"""The encoder export: strings in (SentencePiece inside the graph), float32 codes out, the codes of
the Keras model on the task's own ids; the export's fingerprint; and (slow tier) a trained encoder,
reloaded in a fresh process, puts sentences of one article closer than sentences of two."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.config import load_recipe
from zoo.export import ExportError, TextEncoder, open_export
from zoo.models.textgen import TextEncoderClient, export_fingerprint
from zoo.runs import prepare_task


def test_the_client_encodes_as_the_keras_model_does(smoke_run):
    export = smoke_run("textgen").export
    client = open_export(export)
    assert isinstance(client, TextEncoderClient) and isinstance(client, TextEncoder)
    texts = ["The fire crews were called to the town.", "", "Rain fell.\nThen it stopped."]
    codes = client.encode(texts)
    assert codes.shape == (3, client.code_dim) and codes.dtype == np.float32
    np.testing.assert_array_equal(codes[1], np.zeros(client.code_dim))   # no piece: the zero code
    np.testing.assert_allclose(client.encode(texts[0]), codes[0], atol=1e-6)
    np.testing.assert_allclose(client.encode(texts, batch_size=1), codes, atol=1e-6)
    # model.keras on the ids the task's tokenizer gives (uncut) yields the same codes.
    config = load_recipe(json.loads((export / "manifest.json").read_text())["recipe"])
    task = prepare_task(config, export, need_data=False)
    model = keras.models.load_model(export / "model.keras")
    ids = task.tokenizer.tf_encode(texts).to_tensor(default_value=0).numpy()
    np.testing.assert_allclose(np.asarray(model(ids)), codes, atol=1e-5)
    with pytest.raises(ExportError, match="text 0 is not valid UTF-8"):
        client.encode([b"\xff\xfe"])
    # A batch with no piece at all (a generator collapsed to empty sentences): zero codes, through
    # the client and through the SavedModel alone (the graph pads it to one column).
    zeros = np.zeros((2, client.code_dim), np.float32)
    np.testing.assert_array_equal(client.encode(["", ""]), zeros)
    encode = tf.saved_model.load(str(export / "encoder" / "1")).signatures["encode"]
    np.testing.assert_array_equal(encode(texts=tf.constant(["", ""]))["code"].numpy(), zeros)


def test_the_serving_graph_encodes_a_batch_of_empty_texts_with_either_encoder(smoke_run):
    """A batch where no text has a piece is a [B, 0] id tensor; InferSent's BiLSTM cannot run over
    zero steps, so the graph pads one column. Both encoders give the zero code."""
    from zoo.models.textgen.export import EncoderServing

    export = smoke_run("textgen").export
    config = load_recipe(json.loads((export / "manifest.json").read_text())["recipe"])
    task = prepare_task(config, export, need_data=False)
    for name in ("infersent_encoder", "unisent_encoder"):
        model = zoo.create_model(name, build=True, vocab_size=task.tokenizer.vocab_size, embedding_dim=6,
                                 units=5, seed=2, num_topics=3)
        codes = EncoderServing(model, task.tokenizer).encode(tf.constant(["", ""]))["code"].numpy()
        np.testing.assert_array_equal(codes, np.zeros((2, model.code_dim), np.float32), err_msg=name)


def test_the_fingerprint_is_the_manifest_hash(smoke_run, tmp_path):
    export = smoke_run("textgen").export
    want = hashlib.sha256((export / "manifest.json").read_bytes()).hexdigest()
    assert export_fingerprint(export) == want == open_export(export).fingerprint
    copy = tmp_path / "copy"
    shutil.copytree(export, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["created"] = "another time"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert export_fingerprint(copy) != want
    with pytest.raises(ExportError, match="is not a zoo export"):
        export_fingerprint(tmp_path)


# -- slow: a trained encoder separates articles ---------------------------------------------------
_FRESH = textwrap.dedent("""
    import json, pathlib, sys
    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the SentencePiece op)
    export = pathlib.Path(sys.argv[1])
    held = json.loads((export / "artifacts" / "heldout.json").read_text())
    encode = tf.saved_model.load(str(export / "encoder" / "1")).signatures["encode"]
    codes = encode(texts=tf.constant(held["anchors"]))["code"].numpy()
    assert not any(m == "zoo" or m.startswith("zoo.") for m in sys.modules)
    codes = codes - codes.mean(axis=0)   # the component every sentence shares says nothing of its article
    unit = codes / np.maximum(np.linalg.norm(codes, axis=1, keepdims=True), 1e-12)
    sim = unit @ unit.T
    topics = np.array(held["topics"])
    same = topics[:, None] == topics[None, :]
    off = ~np.eye(len(topics), dtype=bool)
    print(json.dumps({"same": float(sim[same & off].mean()), "different": float(sim[~same].mean())}))
""")


@pytest.mark.slow
def test_a_trained_encoder_puts_one_article_s_sentences_closer(tmp_path, monkeypatch):
    """A small UniSent encoder trained for three passes over 4,000 Wikipedia sentences; its export,
    read in a fresh process with TensorFlow alone, gives held-out sentences of one article a
    higher mean cosine similarity than sentences of two different articles."""
    from zoo.cli import main

    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    overrides = ["model.embedding_dim=32", "model.units=32", "model.bigram_buckets=4096", "task.vocab_size=500",
                 "task.max_tokens=48", "data.max_paragraphs=4000", "data.max_test_paragraphs=400",
                 "trainer.epochs=3", "trainer.learning_rate=0.01", "data.batch_size=32", "trainer.eval_every_steps=100000", "trainer.checkpoint_every_steps=100000"]
    args = ["train", "textgen/unisent", "--run-dir", str(tmp_path / "run"), "--export", str(tmp_path / "export")]
    assert main(args + [a for o in overrides for a in ("--set", o)]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["topic_accuracy"] > 2 * metrics["topic_chance"], metrics
    proc = subprocess.run([sys.executable, "-c", _FRESH, str(tmp_path / "export")], capture_output=True, text=True,
                          timeout=1800, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    sims = json.loads(proc.stdout.strip().splitlines()[-1])
    assert sims["same"] > sims["different"], sims

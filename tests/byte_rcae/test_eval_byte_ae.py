"""Byte auto-encoder analyses ("Byte-level Recursive Convolutional Auto-Encoder for Text", §3.2,
§4.2-4.4) checked against stand-in Keras models
whose answers are known in closed form, plus one end-to-end run with a tiny real ByteRCAE."""
import json

import keras
import numpy as np
import pytest
from keras import ops

import zoo
from zoo.models.byte_rcae.data import padded_length
from zoo.models.byte_rcae.analysis import (
    byte_error,
    eos_length_difference,
    error_by_length,
    evaluate_byte_autoencoder,
    mutation_test,
    predict_bytes,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class IdentityModel(keras.Model):
    """Copies its input: logits = 10 * one_hot(max(ids, 0)) (the degenerate solution of §4.3)."""

    def __init__(self, max_length=1024, fixed_length=None, **kwargs):
        super().__init__(**kwargs)
        self.max_length = max_length
        self.fixed_length = fixed_length
        self.seen = []

    def call(self, ids, training=False):
        if hasattr(ids, "numpy"):  # eager call: keep the inputs to inspect the mutations
            self.seen.append(np.asarray(ids))
        return 10.0 * ops.one_hot(ops.maximum(ops.cast(ids, "int32"), 0), 256)


class ConstantModel(keras.Model):
    """Predicts the space byte (32) at every position, the EOS included."""

    max_length = 1024
    fixed_length = None

    def call(self, ids, training=False):
        return 10.0 * ops.one_hot(ops.full_like(ops.cast(ids, "int32"), 32), 256)


def make_paragraphs(count=60, seed=0, longest=1023):
    rng = np.random.default_rng(seed)
    lengths = list(rng.integers(1, 200, size=count - 4)) + [63, 64, 65, longest]
    out = []
    for n in lengths:
        letters = rng.integers(97, 123, size=n)
        spaces = rng.random(n) < 0.2
        high = rng.random(n) < 0.05
        b = np.where(spaces, 32, np.where(high, rng.integers(1, 256, size=n), letters))
        out.append(bytes(b.astype(np.uint8)))
    return out


def valid_positions(paragraphs):
    return sum(len(p) + 1 for p in paragraphs)


def test_identity_predictions_and_errors():
    paragraphs = make_paragraphs()
    model = IdentityModel()
    preds = predict_bytes(model, paragraphs, batch_size=7)
    assert [len(q) for q in preds] == [padded_length(len(p)) for p in paragraphs]
    for p, q in zip(paragraphs, preds):
        assert bytes(q[:len(p)].astype(np.uint8)) == p and q[len(p)] == 0
    assert byte_error(model, paragraphs) == 0.0
    eos = eos_length_difference(model, paragraphs)
    assert eos["share_at_zero"] == 1.0 and eos["histogram"] == {0: len(paragraphs)}

    bins = error_by_length(model, paragraphs)
    assert [b["bin_upper"] for b in bins] == list(range(64, 1025, 64))
    assert sum(b["count"] for b in bins) == len(paragraphs)
    assert all(b["error"] == 0.0 for b in bins if b["count"]) and all(b["error"] is None for b in bins if not b["count"])
    by_upper = {b["bin_upper"]: b["count"] for b in bins}
    expected = {u: sum(1 for p in paragraphs if u - 64 < len(p) <= u) for u in by_upper}
    assert by_upper == expected  # 64 -> bin 64, 65 -> bin 128, 1023 -> bin 1024


def test_constant_model_matches_byte_frequency():
    paragraphs = make_paragraphs(seed=1)
    model = ConstantModel()
    spaces = sum(p.count(32) for p in paragraphs)
    assert byte_error(model, paragraphs) == pytest.approx(1 - spaces / valid_positions(paragraphs))
    eos = eos_length_difference(model, paragraphs)
    diffs = {}
    for p in paragraphs:
        d = padded_length(len(p)) - len(p)
        diffs[d] = diffs.get(d, 0) + 1
    assert eos["histogram"] == dict(sorted(diffs.items())) and eos["share_at_zero"] == 0.0


def test_static_model_runs_at_fixed_length():
    model = IdentityModel(max_length=64, fixed_length=64)
    paragraphs = [b"a", b"hello world", b"x" * 63]
    assert [len(q) for q in predict_bytes(model, paragraphs)] == [64, 64, 64]
    assert byte_error(model, paragraphs) == 0.0
    with pytest.raises(ValueError, match="does not fit"):
        predict_bytes(model, [b"x" * 64])


def test_mutation_identity_model():
    paragraphs = make_paragraphs(count=80, seed=2)
    real = sum(len(p) for p in paragraphs)
    share_real = real / valid_positions(paragraphs)
    model = IdentityModel()
    rows = mutation_test(model, paragraphs, probabilities=[0.0, 0.3, 0.7, 1.0], seed=5)
    assert [r["p"] for r in rows] == [0.0, 0.3, 0.7, 1.0]
    for r in rows:
        assert r["error_vs_mutated"] == 0.0  # the identity reproduces whatever it is given
        assert r["error_vs_groundtruth"] == pytest.approx(r["p"] * share_real, abs=0.02)
    assert rows[0]["error_vs_groundtruth"] == 0.0
    # p = 1: every real byte changed to a different value, the EOS kept.
    assert rows[-1]["error_vs_groundtruth"] == pytest.approx(share_real, abs=1e-12)
    # Mutated inputs keep exactly one 0 (the EOS, at the paragraph's end) and no byte outside 1..255.
    for batch in model.seen:
        for row in batch:
            assert np.count_nonzero(row == 0) == 1
            end = int(np.flatnonzero(row == 0)[0])
            assert np.all((row[:end] >= 1) & (row[:end] <= 255)) and np.all(row[end + 1:] == -1)
    # Deterministic for a seed, different across seeds.
    again = mutation_test(IdentityModel(), paragraphs, probabilities=[0.3], seed=5)
    other = mutation_test(IdentityModel(), paragraphs, probabilities=[0.3], seed=6)
    assert again[0] == rows[1] and other[0] != rows[1]


def _check_outputs(out_dir, metrics):
    assert json.loads(json.dumps(metrics)) == metrics   # JSON-ready: what `zoo eval` writes
    for key in ("samples", "train_byte_error", "test_byte_error", "unigram_test_byte_error",
                "eos_length_difference", "eos_share_at_zero", "error_by_length", "mutation",
                "mutation_samples", "plots"):
        assert key in metrics, key
    for name in ("eos_length_difference.png", "error_by_length.png", "mutation.png"):
        data = (out_dir / name).read_bytes()
        assert len(data) > 1000 and data.startswith(PNG_MAGIC), name
    assert not [p for p in out_dir.iterdir() if p.name.startswith(".")]  # no temp file left


def test_evaluate_identity_model(tmp_path):
    train, test = make_paragraphs(count=40, seed=3), make_paragraphs(count=30, seed=4)
    cfg = dict(samples=25, mutation_steps=6, length_bin=128)
    metrics = evaluate_byte_autoencoder(IdentityModel(), train, test, tmp_path, **cfg)
    _check_outputs(tmp_path, metrics)
    assert metrics["samples"] == {"train": 25, "test": 25} and metrics["mutation_samples"] == 25
    assert metrics["train_byte_error"] == 0.0 and metrics["test_byte_error"] == 0.0
    assert metrics["eos_share_at_zero"] == {"train": 1.0, "test": 1.0}
    assert [b["bin_upper"] for b in metrics["error_by_length"]["test"]] == list(range(128, 1025, 128))
    assert [r["p"] for r in metrics["mutation"]] == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert all(r["error_vs_mutated"] == 0.0 for r in metrics["mutation"])
    assert 0.0 < metrics["unigram_test_byte_error"] < 1.0
    # Same inputs, same numbers: the samples are drawn deterministically.
    again = evaluate_byte_autoencoder(IdentityModel(), train, test, tmp_path / "again", **cfg)
    assert again == metrics


def test_evaluate_tiny_byte_rcae(tmp_path):
    model = zoo.create_model("byte_rcae_n2", features=16, max_length=64, build=True)
    train = make_paragraphs(count=14, seed=5, longest=150)  # over-long ones are cut to fit 64
    test = make_paragraphs(count=10, seed=6, longest=90)
    metrics = evaluate_byte_autoencoder(model, train, test, tmp_path, samples=12, mutation_steps=3,
                                        length_bin=16)
    _check_outputs(tmp_path, metrics)
    assert metrics["samples"]["train"] == 12
    assert [b["bin_upper"] for b in metrics["error_by_length"]["train"]] == [16, 32, 48, 64]
    for key in ("train_byte_error", "test_byte_error"):
        assert 0.0 <= metrics[key] <= 1.0
    assert len(metrics["mutation"]) == 3

"""The exporter (zoo.export): model.keras + one SavedModel per recursion depth ("Byte-level
Recursive Convolutional Auto-Encoder for Text", §2) + manifest, atomic replacement, manifests of
earlier versions, and the byte-autoencoder client."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

import zoo
from zoo import registry
from zoo.config import load_recipe, save_recipe
from zoo.export import ExportError, export_model, export_run, open_export, read_manifest
from zoo.io import atomic_save_keras
from zoo.models.byte_rcae import ByteAutoencoderClient
from zoo.models.byte_rcae.data import decode_bytes, encode_bytes
from zoo.models.byte_rcae.export import export_byte_autoencoder
from zoo.runs import RunError

MODEL = {"name": "byte_rcae_n2", "features": 32, "max_length": 64}
CHECK_DEPTHS = (0, 2, 3, 4)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    model = zoo.create_model("byte_rcae_n2", features=32, max_length=64, build=True)
    run = root / "run"
    save_recipe(load_recipe({"name": "t", "model": dict(MODEL)}), run / "recipe.yaml")
    atomic_save_keras(model, run / "model.keras")
    out = export_run(run, root / "out")
    return model, run, out


def _paragraph_ids(depth: int, rng, batch: int = 3) -> np.ndarray:
    """Random paragraphs whose padded length is exactly 4 * 2^depth."""
    length = 4 << depth
    lo = 0 if depth == 0 else length // 2
    sizes = rng.integers(lo, length, size=batch)
    return np.stack([encode_bytes(rng.integers(1, 256, size=n).astype(np.uint8).tobytes(), length)
                     for n in sizes])


def _files(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_manifest(exported):
    _, _, out = exported
    m = read_manifest(out)
    assert m["model"] == "byte_rcae_n2" and m["family"] == "byte_rcae" and m["task"] == "byte_autoencoder"
    assert m["zoo_version"] == zoo.__version__ and m["keras_version"] == keras.__version__
    assert m["recipe"]["model"] == MODEL and m["recipe"]["task"]["name"] == "byte_autoencoder"
    entries = m["savedmodels"]
    assert [e["depth"] for e in entries] == [0, 1, 2, 3, 4]
    assert [e["length"] for e in entries] == [4, 8, 16, 32, 64]
    for e in entries:
        assert (out / e["path"] / "saved_model.pb").is_file()
        sig = e["signatures"]
        assert set(sig) == {"encode", "decode", "reconstruct"}
        L = e["length"]
        assert sig["encode"]["inputs"] == {"bytes": {"dtype": "int32", "shape": [None, L]}}
        assert sig["encode"]["outputs"] == {"code": {"dtype": "float32", "shape": [None, 128]}}
        assert sig["decode"]["outputs"]["logits"] == {"dtype": "float32", "shape": [None, L, 256]}
        assert sig["reconstruct"]["outputs"]["bytes"] == {"dtype": "int32", "shape": [None, L]}
    assert not list(out.parent.glob(".out.*"))  # no temp or old folder left behind


# Runs in a fresh interpreter that never imports zoo: a served SavedModel needs only TF/Keras.
_SERVE_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf
    import keras
    data = np.load(sys.argv[1])
    out = {}
    for d in [int(x) for x in sys.argv[3].split(",")]:
        path = f"{sys.argv[2]}/depth_{d}"
        sigs = tf.saved_model.load(path).signatures
        ids, code = tf.constant(data[f"ids{d}"]), tf.constant(data[f"code{d}"])
        out[f"code{d}"] = sigs["encode"](bytes=ids)["code"].numpy()
        out[f"dec{d}"] = sigs["decode"](code=code)["logits"].numpy()
        rec = sigs["reconstruct"](bytes=ids)
        out[f"rec{d}"], out[f"recbytes{d}"] = rec["logits"].numpy(), rec["bytes"].numpy()
        layer = keras.layers.TFSMLayer(path, call_endpoint="reconstruct")
        out[f"layer{d}"] = keras.ops.convert_to_numpy(layer(data[f"ids{d}"])["logits"])
    assert "zoo" not in sys.modules, "the SavedModel check must not import zoo"
    np.savez(sys.argv[4], **out)
""")


def test_inmemory_keras_and_savedmodels_agree(exported, tmp_path):
    model, _, out = exported
    reloaded = keras.models.load_model(out / "model.keras")
    rng = np.random.default_rng(0)
    inputs, expect = {}, {}
    for d in CHECK_DEPTHS:
        ids = _paragraph_ids(d, rng)
        L = ids.shape[1]
        code = keras.ops.convert_to_numpy(model.encode(ids))
        logits = keras.ops.convert_to_numpy(model(ids))
        dec = keras.ops.convert_to_numpy(model.decode(code, L))
        np.testing.assert_allclose(keras.ops.convert_to_numpy(reloaded.encode(ids)), code, atol=1e-5)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(reloaded(ids)), logits, atol=1e-5)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(reloaded.decode(code, L)), dec, atol=1e-5)
        inputs[f"ids{d}"], inputs[f"code{d}"] = ids, code
        expect[d] = (code, dec, logits)
    np.savez(tmp_path / "in.npz", **inputs)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(
        [sys.executable, "-c", _SERVE_SCRIPT, str(tmp_path / "in.npz"), str(out),
         ",".join(map(str, CHECK_DEPTHS)), str(tmp_path / "served.npz")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = np.load(tmp_path / "served.npz")
    for d, (code, dec, logits) in expect.items():
        np.testing.assert_allclose(served[f"code{d}"], code, atol=1e-5)
        np.testing.assert_allclose(served[f"dec{d}"], dec, atol=1e-5)
        np.testing.assert_allclose(served[f"rec{d}"], logits, atol=1e-5)
        np.testing.assert_allclose(served[f"layer{d}"], logits, atol=1e-5)
        # The served argmax is a top byte of the in-memory logits (tie-tolerant).
        picked = np.take_along_axis(logits, served[f"recbytes{d}"][..., None], -1)[..., 0]
        assert np.all(picked >= logits.max(-1) - 1e-5)


def test_client_matches_model(exported):
    model, _, out = exported
    client = ByteAutoencoderClient(out)
    assert client.lengths == {0: 4, 1: 8, 2: 16, 3: 32, 4: 64} and client.max_bytes == 63
    text = "hello, wörld"  # 13 UTF-8 bytes -> padded length 16, depth 2
    ids = encode_bytes(text)[None]
    assert ids.shape == (1, 16)
    logits = keras.ops.convert_to_numpy(model(ids))[0]
    expected = decode_bytes(logits.argmax(-1))
    assert client.reconstruct_bytes(text) == expected
    assert client.reconstruct(text) == expected.decode("utf-8", errors="replace")
    assert client.reconstruct(text.encode()) == expected
    code = client.encode(text)
    np.testing.assert_allclose(code, keras.ops.convert_to_numpy(model.encode(ids))[0], atol=1e-5)
    assert client.decode(code, 16) == expected
    assert client.decode(np.stack([code, code]), 16) == [expected, expected]


def test_client_errors(exported, tmp_path):
    _, _, out = exported
    client = ByteAutoencoderClient(out)
    with pytest.raises(ExportError, match="64 bytes.*at most 63"):
        client.reconstruct("x" * 64)
    with pytest.raises(ExportError, match="expected int32 byte ids, got float64"):
        client.call_signature(3, "encode", np.zeros((1, 32)))
    with pytest.raises(ExportError, match="depth 3 serves length 32, got 17"):
        client.call_signature(3, "encode", np.zeros((1, 17), np.int32))
    with pytest.raises(ExportError, match="no depth 7"):
        client.call_signature(7, "encode", np.zeros((1, 32), np.int32))
    with pytest.raises(ExportError, match="decodes at padded lengths"):
        client.decode(np.zeros(128, np.float32), 12)
    with pytest.raises(ExportError, match="does not exist"):
        ByteAutoencoderClient(tmp_path / "missing")
    with pytest.raises(ExportError, match="no manifest.json"):
        ByteAutoencoderClient(tmp_path)


def test_export_of_non_run_dir_raises(tmp_path):
    with pytest.raises(RunError, match="does not exist"):
        export_run(tmp_path / "missing", tmp_path / "out")
    with pytest.raises(RunError, match="not a run directory"):
        export_run(tmp_path, tmp_path / "out")


def test_replace_and_refuse(exported, tmp_path):
    model, run, _ = exported
    config = load_recipe(run / "recipe.yaml")
    out = tmp_path / "sub"
    export_model(model, config, out, depths=[0])
    export_model(model, config, out, depths=[1])
    assert [e["depth"] for e in read_manifest(out)["savedmodels"]] == [1]
    assert not (out / "depth_0").exists() and (out / "depth_1" / "saved_model.pb").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub"]
    with pytest.raises(ExportError, match="not served"):
        export_model(model, config, out, depths=[5])
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep me")
    with pytest.raises(ExportError, match="refusing to replace"):
        export_model(model, config, tmp_path / "precious", depths=[0])
    assert (tmp_path / "precious" / "notes.txt").read_text() == "keep me"


def test_failed_export_leaves_previous_untouched(exported, monkeypatch):
    model, run, out = exported
    before = _files(out)

    def failing_hook(model, task, depths):
        for i, spec in enumerate(export_byte_autoencoder(model, task, depths)):
            if i == 2:  # two SavedModels are already on disk in the temp folder
                raise RuntimeError("hook failed midway")
            yield spec

    fam = registry.family("byte_rcae")
    monkeypatch.setitem(registry._FAMILIES, "byte_rcae", dataclasses.replace(fam, exporter=failing_hook))
    with pytest.raises(RuntimeError, match="hook failed midway"):
        export_run(run, out)
    assert _files(out) == before
    assert sorted(p.name for p in out.parent.iterdir() if p.name.startswith(".")) == []
    json.loads((out / "manifest.json").read_text())


def test_static_model_serves_its_one_length(tmp_path):
    # The static model (§4.6) reads exactly max_length bytes: one SavedModel, short text padded.
    args = {"name": "byte_rcae_static_n8", "n": 2, "features": 16, "max_length": 16}
    model = zoo.create_model("byte_rcae_static_n8", n=2, features=16, max_length=16, build=True)
    out = export_model(model, {"name": "s", "model": dict(args)}, tmp_path / "static")
    entries = read_manifest(out)["savedmodels"]
    assert [(e["depth"], e["length"], e["min_bytes"]) for e in entries] == [(2, 16, 0)]
    client = ByteAutoencoderClient(out)
    logits = keras.ops.convert_to_numpy(model(encode_bytes("hi", 16)[None]))[0]
    assert client.reconstruct_bytes("hi") == decode_bytes(logits.argmax(-1))
    with pytest.raises(ExportError, match="not served"):
        export_model(model, {"name": "s", "model": dict(args)}, tmp_path / "static", depths=[0])


def test_a_manifest_of_the_earlier_version_still_loads(exported, tmp_path):
    """Exports written before families were folders carry family "byte_autoencoder", format
    version 1 and a recipe in the old form: the client, `open_export` and `zoo eval` read them."""
    import shutil
    import warnings

    _, _, out = exported
    old = tmp_path / "old_export"
    shutil.copytree(out, old)
    shutil.rmtree(old / "artifacts", ignore_errors=True)
    manifest = json.loads((old / "manifest.json").read_text())
    manifest.update(family="byte_autoencoder", format_version=1)
    manifest.pop("task"), manifest.pop("artifacts")
    recipe = manifest["recipe"]
    task = recipe.pop("task")
    recipe["data"].update(max_length=task["max_length"] // 2, overflow="split", bytes_per_batch=None,
                          options={})
    recipe["trainer"].update(divide_shared_gradients=True, eval_batches=20)
    recipe["eval"].update(mutation_steps=11, length_bin=64)
    (old / "manifest.json").write_text(json.dumps(manifest))
    assert read_manifest(old)["family"] == "byte_rcae"
    client = open_export(old)
    assert isinstance(client, ByteAutoencoderClient)
    assert client.reconstruct_bytes("hello") == ByteAutoencoderClient(out).reconstruct_bytes("hello")
    from zoo.eval.loop import load_source
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config, model, _ = load_source(old)
    assert config.task.name == "byte_autoencoder" and config.task.options.max_length == task["max_length"] // 2
    assert [w.category for w in caught] == [FutureWarning]

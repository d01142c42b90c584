"""The exporter (zoo.export): model.keras + one SavedModel per recursion depth ("Byte-level
Recursive Convolutional Auto-Encoder for Text", §2) in TF Serving's layout + manifest, in-graph
input checks seen by a zoo-free client, atomic replacement (also under SIGKILL at each step of
the swap), damaged files, manifests of earlier versions, and the byte-autoencoder client."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import keras
import numpy as np
import pytest

import zoo
from zoo import registry
from zoo.config import load_recipe, save_recipe
from zoo.cli import main as cli_main
from zoo.export import ExportError, export_model, export_run, open_export, read_manifest, swap
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


@pytest.fixture(scope="module")
def small_exports(exported, tmp_path_factory):
    """The fixture's export cut down to depth 0 and to depth 1 (manifest and folders): the
    earlier and the newer export of the swap and damaged-file tests, without exporting again."""
    _, _, out = exported
    root = tmp_path_factory.mktemp("small")
    made = []
    for depth in (0, 1):
        dst = root / f"depth{depth}"
        keep = f"depth_{depth}"
        shutil.copytree(out, dst, ignore=lambda d, names: [n for n in names if Path(d) == out
                                                           and n.startswith("depth_") and n != keep])
        manifest = json.loads((dst / "manifest.json").read_text())
        manifest["savedmodels"] = [e for e in manifest["savedmodels"] if e["name"] == keep]
        (dst / "manifest.json").write_text(json.dumps(manifest))
        made.append(dst)
    return tuple(made)


@pytest.fixture(scope="module")
def recurrent_exports(tmp_path_factory):
    """Tiny one-layer recurrent exports: float features (input_dim 28) and symbol ids (vocab 4)."""
    root = tmp_path_factory.mktemp("recurrent")
    out = {}
    for name in ("stacked_lstm_mnist", "lstm_temporal_order"):
        model = zoo.create_model(name, units=4, num_layers=1, build=True)
        out[name] = (model, export_model(model, {"name": "r", "model": {"name": name, "units": 4, "num_layers": 1}},
                                         root / name))
    return out


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
    assert m["format_version"] == 3
    entries = m["savedmodels"]
    assert [e["depth"] for e in entries] == [0, 1, 2, 3, 4]
    assert [e["length"] for e in entries] == [4, 8, 16, 32, 64]
    for e in entries:
        # TF Serving's layout: <out>/<name> is a model base path with numeric version folders.
        assert (e["name"], e["path"], e["version"]) == (f"depth_{e['depth']}", f"depth_{e['depth']}/1", 1)
        assert sorted(p.name for p in (out / e["name"]).iterdir()) == ["1"]
        assert (out / e["path"] / "saved_model.pb").is_file()
        assert e["default_signature"] == "reconstruct"
        sig = e["signatures"]
        assert set(sig) == {"encode", "decode", "reconstruct"}
        L = e["length"]
        assert sig["encode"]["inputs"] == {"bytes": {"dtype": "int32", "shape": [None, L]}}
        assert sig["encode"]["outputs"] == {"code": {"dtype": "float32", "shape": [None, 128]}}
        assert sig["decode"]["outputs"]["logits"] == {"dtype": "float32", "shape": [None, L, 256]}
        assert sig["reconstruct"]["outputs"]["bytes"] == {"dtype": "int32", "shape": [None, L]}
    assert not list(out.parent.glob(".out.*"))  # no temp or old folder left behind


# Runs in a fresh interpreter that never imports zoo: a served SavedModel needs only TF/Keras.
# It also feeds what the graphs must refuse (wrong length, batch layout, byte range, code shape),
# through the recurrent exports too, and shows serving_default with TF's own saved_model_cli.
_SERVE_SCRIPT = textwrap.dedent("""
    import contextlib, io, json, sys
    import numpy as np
    import tensorflow as tf
    import keras
    data = np.load(sys.argv[1])
    out, sigs = {}, {}
    for d in [int(x) for x in sys.argv[3].split(",")]:
        path = f"{sys.argv[2]}/depth_{d}/1"
        sigs[d] = s = tf.saved_model.load(path).signatures
        ids, code = tf.constant(data[f"ids{d}"]), tf.constant(data[f"code{d}"])
        out[f"code{d}"] = s["encode"](bytes=ids)["code"].numpy()
        out[f"dec{d}"] = s["decode"](code=code)["logits"].numpy()
        rec = s["reconstruct"](bytes=ids)
        out[f"rec{d}"], out[f"recbytes{d}"] = rec["logits"].numpy(), rec["bytes"].numpy()
        out[f"default{d}"] = s["serving_default"](bytes=ids)["logits"].numpy()
        layer = keras.layers.TFSMLayer(path, call_endpoint="reconstruct")
        out[f"layer{d}"] = keras.ops.convert_to_numpy(layer(data[f"ids{d}"])["logits"])

    def refused(fn, **inputs):
        try:
            fn(**{k: tf.constant(v) for k, v in inputs.items()})
        except (tf.errors.InvalidArgumentError, TypeError, ValueError) as e:
            return " ".join(str(getattr(e, "message", e)).split())
        return None

    ok = np.full((1, 16), -1, np.int32)
    byte = lambda v: np.where(np.arange(32) == 3, v, -1).astype(np.int32)[None]
    refusals = {
        "twice_long": refused(sigs[2]["reconstruct"], bytes=np.zeros((1, 32), np.int32)),
        "three_rows": refused(sigs[2]["encode"], bytes=np.zeros((3, 32), np.int32)),
        "truncating": refused(sigs[3]["reconstruct"], bytes=np.zeros((1, 36), np.int32)),
        "short": refused(sigs[3]["encode"], bytes=np.zeros((1, 20), np.int32)),
        "rank3": refused(sigs[2]["reconstruct"], bytes=ok[None]),
        "rank1": refused(sigs[2]["serving_default"], bytes=ok[0]),
        "byte300": refused(sigs[3]["encode"], bytes=byte(300)),
        "byte-5": refused(sigs[3]["reconstruct"], bytes=byte(-5)),
        "float": refused(sigs[2]["encode"], bytes=ok.astype(np.float32)),
        "code_dim": refused(sigs[2]["decode"], code=np.zeros((1, 127), np.float32)),
        "code_nan": refused(sigs[2]["decode"], code=np.full((1, 128), np.nan, np.float32)),
    }
    mnist = tf.saved_model.load(sys.argv[5] + "/stacked_lstm_mnist/depth_1/1").signatures
    order = tf.saved_model.load(sys.argv[5] + "/lstm_temporal_order/depth_1/1").signatures
    out["mnist"] = mnist["serving_default"](inputs=tf.constant(data["mnist"]))["outputs"].numpy()
    out["order"] = order["predict"](inputs=tf.constant(data["order"]))["outputs"].numpy()
    refusals.update({
        "features": refused(mnist["predict"], inputs=np.zeros((2, 5, 27), np.float32)),
        "no_time": refused(mnist["predict"], inputs=np.zeros((2, 28), np.float32)),
        "features_nan": refused(mnist["predict"], inputs=np.full((1, 3, 28), np.nan, np.float32)),
        "symbol4": refused(order["predict"], inputs=np.array([[0, 1, 4]], np.int32)),
        "symbol-1": refused(order["serving_default"], inputs=np.array([[-1, 1]], np.int32)),
    })
    assert "zoo" not in sys.modules, "the SavedModel check must not import zoo"
    np.savez(sys.argv[4], **out)
    # What `saved_model_cli show --dir <out>/depth_3/1 --tag_set serve --signature_def
    # serving_default` prints (the console script runs this same main()).
    from tensorflow.python.tools.saved_model_cli import main
    sys.argv = ["saved_model_cli", "show", "--dir", f"{sys.argv[2]}/depth_3/1", "--tag_set", "serve",
                "--signature_def", "serving_default"]
    shown = io.StringIO()
    with contextlib.redirect_stdout(shown), contextlib.suppress(SystemExit):
        main()
    print(json.dumps({"refusals": refusals, "cli": shown.getvalue()}))
""")


def test_inmemory_keras_and_savedmodels_agree(exported, recurrent_exports, tmp_path):
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
    recurrent = {}
    for name, key in (("stacked_lstm_mnist", "mnist"), ("lstm_temporal_order", "order")):
        rmodel, _ = recurrent_exports[name]
        inputs[key] = zoo.registry.model_entry(name).example_input(rmodel, 3, rng)
        recurrent[key] = np.asarray(rmodel(inputs[key], depth=1))
    np.savez(tmp_path / "in.npz", **inputs)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(
        [sys.executable, "-c", _SERVE_SCRIPT, str(tmp_path / "in.npz"), str(out),
         ",".join(map(str, CHECK_DEPTHS)), str(tmp_path / "served.npz"),
         str(recurrent_exports["stacked_lstm_mnist"][1].parent)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    refusals = report["refusals"]
    for case in ("twice_long", "three_rows", "rank3", "rank1"):
        assert "bytes must have shape [batch, 16]" in refusals[case], (case, refusals[case])
    for case in ("truncating", "short"):
        assert "bytes must have shape [batch, 32]" in refusals[case], (case, refusals[case])
    assert "[1 36]" in refusals["truncating"]   # the message shows what came in
    for case in ("byte300", "byte-5"):
        assert "byte values must be in [-1, 255]" in refusals[case], (case, refusals[case])
    assert "int32" in refusals["float"]   # the signature's dtype is enforced by TF itself
    assert "code must have shape [batch, 128]" in refusals["code_dim"]
    assert "code values must be finite" in refusals["code_nan"]
    for case in ("features", "no_time"):
        assert "inputs must have shape [batch, time, 28]" in refusals[case], (case, refusals[case])
    assert "inputs values must be finite" in refusals["features_nan"]
    for case in ("symbol4", "symbol-1"):
        assert "symbol ids must be in [0, 3]" in refusals[case], (case, refusals[case])
    assert "The given SavedModel SignatureDef contains the following input(s)" in report["cli"]
    assert "inputs['bytes'] tensor_info" in report["cli"] and "(-1, 32)" in report["cli"]
    served = np.load(tmp_path / "served.npz")
    for key, want in recurrent.items():
        np.testing.assert_allclose(served[key], want, atol=1e-5)
    for d, (code, dec, logits) in expect.items():
        np.testing.assert_allclose(served[f"code{d}"], code, atol=1e-5)
        np.testing.assert_allclose(served[f"dec{d}"], dec, atol=1e-5)
        np.testing.assert_allclose(served[f"rec{d}"], logits, atol=1e-5)
        np.testing.assert_allclose(served[f"default{d}"], logits, atol=1e-5)
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
    # Values the manifest cannot describe are refused by the graph, and read as a sentence.
    with pytest.raises(ExportError, match=r"depth_0 signature 'decode': code values must be finite"):
        client.call_signature(0, "decode", np.full((1, 128), np.inf, np.float32))
    newer = tmp_path / "newer"
    newer.mkdir()
    manifest = json.loads((out / "manifest.json").read_text())
    (newer / "manifest.json").write_text(json.dumps({**manifest, "format_version": 4}))
    with pytest.raises(ExportError, match="format version 4; this zoo .* reads versions up to 3"):
        open_export(newer)


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
    assert not (out / "depth_0").exists() and (out / "depth_1" / "1" / "saved_model.pb").is_file()
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
    import warnings

    _, _, out = exported
    old = tmp_path / "old_export"
    shutil.copytree(out, old)
    shutil.rmtree(old / "artifacts", ignore_errors=True)
    manifest = json.loads((old / "manifest.json").read_text())
    for e in manifest["savedmodels"]:  # before format 3: no version folder, no default signature
        os.rename(old / e["path"], old / f"{e['name']}.v")
        os.rmdir(old / e["name"])
        os.rename(old / f"{e['name']}.v", old / e["name"])
        for key in ("name", "version", "default_signature"):
            e.pop(key)
        e["path"] = f"depth_{e['depth']}"
    (old / "manifest.json").write_text(json.dumps({**manifest, "format_version": 2}))
    assert ByteAutoencoderClient(old).call_signature(2, "serving_default", encode_bytes("format 2", 16)[None])
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
    from zoo.sources import load_source
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config, model, _ = load_source(old)
    assert config.task.name == "byte_autoencoder" and config.task.options.max_length == task["max_length"] // 2
    assert [w.category for w in caught] == [FutureWarning]


def test_client_loads_a_savedmodel_once_for_many_threads(small_exports):
    a, _ = small_exports
    client = ByteAutoencoderClient(a)
    start = threading.Barrier(8)

    def first_use(_):
        start.wait()  # all eight ask for the not-yet-loaded SavedModel at once
        return client.savedmodel("depth_0"), client.reconstruct_bytes("abc")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(first_use, range(8)))
    assert client.loads == 1
    assert all(sm is results[0][0] for sm, _ in results)
    assert len({text for _, text in results}) == 1


# Runs the real swap (zoo/export/swap.py, which imports no TensorFlow) in a bare interpreter
# that $ZOO_EXPORT_FAULT makes SIGKILL itself at one point of the swap.
_SWAP_SCRIPT = textwrap.dedent("""
    import importlib.util, sys
    from pathlib import Path
    spec = importlib.util.spec_from_file_location("swap", sys.argv[1])
    swap = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(swap)
    swap.swap_into_place(Path(sys.argv[2]), Path(sys.argv[3]))
""")


def test_a_killed_swap_leaves_an_export_and_the_next_export_cleans_up(small_exports, tmp_path):
    a, b = small_exports
    before, after = _files(a), _files(b)
    if sys.platform.startswith("linux"):  # the atomic exchange, not the fallback, runs here
        (tmp_path / "x").mkdir(), (tmp_path / "y").mkdir()
        (tmp_path / "x" / "f").write_text("x")
        assert swap.exchange(tmp_path / "x", tmp_path / "y") and (tmp_path / "y" / "f").is_file()
    cases = [("before_swap", before), ("after_swap", after),  # one renameat2 exchange
             ("before_swap,no_renameat2", before), ("between_renames,no_renameat2", None),
             ("after_swap,no_renameat2", after)]
    for i, (fault, expect) in enumerate(cases):
        out = tmp_path / f"case{i}" / "out"
        shutil.copytree(a, out)
        new = out.with_name(".out.tmp-k1ll3d_")
        shutil.copytree(b, new)
        proc = subprocess.run([sys.executable, "-c", _SWAP_SCRIPT, swap.__file__, str(new), str(out)],
                              env={**os.environ, swap.FAULT_ENV: fault}, capture_output=True, timeout=60)
        assert proc.returncode == -signal.SIGKILL, (fault, proc.stderr[-2000:])
        assert [p.name for p in out.parent.iterdir() if p.name != "out"], fault  # a leftover
        if expect is None:
            # Two renames killed in between: the earlier export is only in .out.old-*, and
            # reading says so; the next export puts it back.
            with pytest.raises(ExportError, match=r"\.out\.old-[0-9a-f]{8}'?: exporting to this path again"):
                read_manifest(out)
        else:
            assert _files(out) == expect, fault  # the earlier export or the new one, complete
        assert swap.recover_leftovers(out) == (out if expect is None else None)
        assert _files(out) == (before if expect is None else expect), fault
        assert [p.name for p in out.parent.iterdir()] == ["out"], fault
    # Folders that only look like leftovers of another name are not touched.
    (out.parent / ".outer.tmp-abc").mkdir()
    (out.parent / ".out.tmp-abc.keep").mkdir()
    swap.recover_leftovers(out)
    assert sorted(p.name for p in out.parent.iterdir()) == [".out.tmp-abc.keep", ".outer.tmp-abc", "out"]


_KILLED_EXPORT = textwrap.dedent("""
    import sys
    from zoo.export import export_run
    export_run(sys.argv[1], sys.argv[2], depths=[0])
""")


def test_a_killed_export_is_recovered_by_the_next(exported, small_exports, tmp_path):
    """A real `export_run` SIGKILLed between the fallback's two renames leaves no export at the
    path; the next export first restores the earlier one and removes the leftovers."""
    model, run, _ = exported
    a, _ = small_exports
    out = tmp_path / "out"
    shutil.copytree(a, out)
    proc = subprocess.run([sys.executable, "-c", _KILLED_EXPORT, str(run), str(out)], capture_output=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
                               swap.FAULT_ENV: "between_renames,no_renameat2"}, timeout=180)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert not out.exists()
    kept = swap.leftovers(out)
    assert sorted(p.name.split("-")[0] for p in kept) == [".out.old", ".out.tmp"]
    assert [_files(p) for p in kept if ".old-" in p.name] == [_files(a)]
    # Even an export that then fails (no depth 9) has put the earlier export back first.
    with pytest.raises(ExportError, match="not served"):
        export_model(model, load_recipe(run / "recipe.yaml"), out, depths=[9])
    assert _files(out) == _files(a)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def _truncated(src: Path, dst: Path, name: str) -> Path:
    shutil.copytree(src, dst)
    f = dst / name
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    return dst


def test_damaged_files_are_named_errors(small_exports, tmp_path, capsys):
    a, _ = small_exports
    pb = _truncated(a, tmp_path / "pb", "depth_0/1/saved_model.pb")
    with pytest.raises(ExportError, match=r"depth_0/1/saved_model.pb' is corrupted or truncated "
                                          r"\(.*\); re-export it"):
        open_export(pb).reconstruct("hi")
    for name in ("variables.data-00000-of-00001", "variables.index"):
        bad = _truncated(a, tmp_path / name, f"depth_0/1/variables/{name}")
        with pytest.raises(ExportError, match=rf"depth_0/1/variables/{name}' is corrupted or truncated"):
            ByteAutoencoderClient(bad).encode("hi")
    # Through the command line: `zoo reconstruct` (SavedModels) and `zoo eval` (model.keras).
    assert cli_main(["reconstruct", "hi", "--model", str(pb)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("zoo: error: ") and "saved_model.pb' is corrupted or truncated" in err
    keras_file = _truncated(a, tmp_path / "keras", "model.keras")
    assert cli_main(["eval", str(keras_file), "--out", str(tmp_path / "ev")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("zoo: error: ") and "model.keras' is corrupted or truncated" in err
    assert "Traceback" not in err


def test_a_run_with_a_damaged_model_keras_is_a_named_error(exported, tmp_path, capsys):
    _, run, _ = exported
    bad = tmp_path / "run"
    shutil.copytree(run, bad)
    f = bad / "model.keras"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    assert cli_main(["export", str(bad), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("zoo: error: ") and err.count("\n") == 1, err
    assert "model.keras' is corrupted or truncated" in err and "latest checkpoint" in err
    assert not (tmp_path / "out").exists()


def test_export_again_keeps_what_zoo_eval_wrote_for_the_same_weights(exported, tmp_path, capsys):
    """Issue 28 item 3: re-exporting must not delete `eval/` (written by `zoo eval`) without
    saying so; kept when the weights are the same, refused with one line when they are not."""
    model, run, _ = exported
    config = load_recipe(run / "recipe.yaml")
    out = tmp_path / "out"
    export_model(model, config, out, depths=[0])
    (out / "eval").mkdir()
    (out / "eval" / "metrics.json").write_text('{"error": 0.25}')
    (out / "notes.txt").write_text("mine")
    fingerprint = read_manifest(out)["weights_sha256"]
    export_model(model, config, out, depths=[1])  # same weights, another SavedModel
    assert read_manifest(out)["weights_sha256"] == fingerprint
    assert not (out / "depth_0").exists()  # the exporter's own earlier folder is replaced
    assert (out / "eval" / "metrics.json").read_text() == '{"error": 0.25}'
    assert (out / "notes.txt").read_text() == "mine"
    assert "kept eval/, notes.txt" in capsys.readouterr().err

    other = zoo.create_model("byte_rcae_n2", features=32, max_length=64, build=True)
    other.set_weights([w + 1.0 for w in model.get_weights()])  # other weights, same shapes
    export_model(other, config, out, depths=[1])
    assert read_manifest(out)["weights_sha256"] != fingerprint
    assert not (out / "eval").exists()
    err = capsys.readouterr().err
    assert "eval/, notes.txt of the earlier export not carried over" in err and "other weights" in err

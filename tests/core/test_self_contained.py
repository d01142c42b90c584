"""A run folder holds everything needed to evaluate and export it: after the corpus is deleted,
`zoo eval RUN`, `zoo export RUN` and `zoo eval EXPORT` still work, on the same test split the
trainer evaluated. (The session's smoke runs of every family (tests/conftest.py) have their
cache deleted after training: tests/slicenet/test_slicenet_export.py evaluates, exports and
translates the translation task's run without its SentencePiece cache.)"""
import json
import shutil

import pytest

from zoo.cli import main


def _text_corpus(folder):
    from zoo.data import load_corpus

    path = folder / "corpus.txt"
    path.write_bytes(b"\n\n".join(load_corpus("english")[:300]))
    return path


@pytest.mark.parametrize("recipe, corpus, metric", [
    ("byte_rcae/smoke", _text_corpus, "byte_error"),
    ("recurrent/smoke_char_lm", _text_corpus, "bits_per_char"),
])
def test_eval_and_export_need_neither_corpus_nor_cache(recipe, corpus, metric, tmp_path, monkeypatch, capsys):
    cache = tmp_path / "cache"
    monkeypatch.setenv("ZOO_CACHE", str(cache))
    data = corpus(tmp_path)
    run = tmp_path / "run"
    assert main(["train", recipe, "--data", str(data), "--run-dir", str(run),
                 "--set", "runtime.strategy=one_device"]) == 0
    final = json.loads((run / "metrics.json").read_text())
    data.unlink()
    shutil.rmtree(cache, ignore_errors=True)
    capsys.readouterr()

    assert main(["eval", str(run), "--samples", "4", "--out", str(tmp_path / "ev_run")]) == 0
    from_run = json.loads(capsys.readouterr().out)
    assert from_run[metric] == pytest.approx(final[metric], rel=1e-5)
    assert main(["export", str(run), "--out", str(tmp_path / "export")]) == 0
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert manifest["artifacts"] and (tmp_path / "export" / "artifacts").is_dir()
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "export"), "--samples", "4", "--out", str(tmp_path / "ev_export")]) == 0
    from_export = json.loads(capsys.readouterr().out)
    assert from_export[metric] == pytest.approx(final[metric], rel=1e-5)
    assert not data.exists() and not cache.exists()

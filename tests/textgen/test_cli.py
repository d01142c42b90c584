"""`zoo textgen-eval` (zoo/models/textgen/cli.py), called in process: the table and the JSON of a
tiny sample file, and one clear line with exit status 2 for each kind of bad input (never a
traceback, never a NaN printed as a result)."""
import json
import math
import shutil

import pytest

from zoo.cli import main
from zoo.models.textgen.data import topic_sentences


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def texts():
    train = [s.text for s in topic_sentences("lee", "train")]
    test = [s.text for s in topic_sentences("lee", "test")]
    return train, test


def _run(capsys, *args):
    code = main(["textgen-eval", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def _one_error(code, err, *needles):
    assert code == 2, err
    assert "Traceback" not in err
    lines = [l for l in err.splitlines() if l.startswith("zoo: error:")]
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0], lines[0]


def test_tiny_end_to_end_without_encoder(tmp_path, capsys, texts):
    train, test = texts
    samples = _write(tmp_path / "samples.txt", train[:100])
    second = _write(tmp_path / "second.txt", train[100:200])
    ref = _write(tmp_path / "ref.txt", test[:60])
    code, out, err = _run(capsys, "--samples", samples, "--samples2", second, "--reference", ref, "--no-reverse-lm")
    assert code == 0, err
    record = json.loads((tmp_path / "samples.txt.textgen.json").read_text())
    m = record["metrics"]
    assert set(m) >= {"bleu4", "self_bleu4_leave_one_out", "self_bleu4_independent", "distinct_4", "unique_4grams"}
    assert m["bleu4"]["n_hypotheses"] == 100 and m["bleu4"]["n_references"] == 60
    assert m["self_bleu4_independent"]["n_references"] == 100
    assert all(math.isfinite(v["value"]) for v in m.values())
    assert record["inputs"]["samples_lines"] == 100
    for name in m:
        assert name in out
    assert "nan" not in out.lower()
    # The same sentences as their own reference: BLEU is 1.
    code, out, err = _run(capsys, "--samples", samples, "--reference", samples, "--no-reverse-lm",
                          "--out", tmp_path / "self.json")
    assert code == 0, err
    assert json.loads((tmp_path / "self.json").read_text())["metrics"]["bleu4"]["value"] == pytest.approx(1.0)


def test_bad_input_is_one_line(tmp_path, capsys, texts):
    train, test = texts
    ref = _write(tmp_path / "ref.txt", test[:20])
    good = _write(tmp_path / "good.txt", train[:20])
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n")
    _one_error(*_run(capsys, "--samples", empty, "--reference", ref, "--no-reverse-lm")[::2],
               "--samples", "no nonempty line")
    one = _write(tmp_path / "one.txt", test[:1])
    _one_error(*_run(capsys, "--samples", good, "--reference", one, "--no-reverse-lm")[::2],
               "reference set has 1 line")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"a fine line\nan invalid \xff byte here\n")
    _one_error(*_run(capsys, "--samples", bad, "--reference", ref, "--no-reverse-lm")[::2],
               "line 2", "not valid UTF-8", "0xff")
    wide = tmp_path / "utf16.txt"
    wide.write_bytes("one line\n".encode("utf-16"))
    _one_error(*_run(capsys, "--samples", good, "--reference", wide, "--no-reverse-lm")[::2], "UTF-16")
    _one_error(*_run(capsys, "--samples", tmp_path / "missing.txt", "--reference", ref)[::2], "no such file")
    assert not (tmp_path / "good.txt.textgen.json").exists()


def test_exports_of_the_wrong_kind_are_refused(tmp_path, capsys, texts, smoke_run):
    train, test = texts
    ref = _write(tmp_path / "ref.txt", test[:20])
    good = _write(tmp_path / "good.txt", train[:20])
    lm, encoder = smoke_run("lm").export, smoke_run("textgen").export
    _one_error(*_run(capsys, "--samples", good, "--reference", ref, "--encoder", lm, "--no-reverse-lm")[::2],
               "lm export", "not a sentence encoder of the textgen family")
    _one_error(*_run(capsys, "--samples", good, "--reference", ref, "--lm", encoder, "--no-reverse-lm")[::2],
               "textgen export", "score texts")


def test_encoder_metrics_and_too_few_samples(tmp_path, capsys, texts, smoke_run):
    train, test = texts
    encoder = smoke_run("textgen").export
    ref = _write(tmp_path / "ref.txt", test[:40])
    samples = _write(tmp_path / "samples.txt", train[:60])
    code, out, err = _run(capsys, "--samples", samples, "--reference", ref, "--encoder", encoder,
                          "--no-reverse-lm", "--mauve-seeds", "2")
    assert code == 0, err
    record = json.loads((tmp_path / "samples.txt.textgen.json").read_text())
    m = record["metrics"]
    from zoo.models.textgen import export_fingerprint

    assert record["encoders"][0]["sha256"] == export_fingerprint(encoder)
    assert m["fd"]["n_x"] == 40 and m["fd"]["n_y"] == 60 and m["fd"]["value"] >= 0
    assert 0 <= m["precision"]["value"] <= 1 and 0 <= m["recall"]["value"] <= 1
    assert len(m["mauve"]["seeds"]) == 2
    dim = m["fd"]["dim"]
    few = _write(tmp_path / "few.txt", train[: max(2, dim - 1)])
    _one_error(*_run(capsys, "--samples", few, "--reference", ref, "--encoder", encoder, "--no-reverse-lm")[::2],
               "sample")


@pytest.mark.slow
def test_every_metric_with_lm_and_reverse_lm(tmp_path, capsys, texts, smoke_run):
    """The whole command: an encoder, an LM export and the reverse LM trained on the samples
    (three n-gram trainings and exports, minutes). Default tier: the command without the reverse
    LM (test_tiny_end_to_end_without_encoder, test_encoder_metrics_and_too_few_samples), the LM
    score's definition (test_scores.py) and the reverse LM's test split (test_scores.py)."""
    train, test = texts
    encoder, lm = smoke_run("textgen").export, smoke_run("lm").export
    samples = _write(tmp_path / "samples.txt", train[:120])
    ref = _write(tmp_path / "ref.txt", test[:50])
    code, out, err = _run(capsys, "--samples", samples, "--reference", ref, "--encoder", encoder, "--lm", lm,
                          "--workdir", tmp_path / "work")
    assert code == 0, err
    m = json.loads((tmp_path / "samples.txt.textgen.json").read_text())["metrics"]
    assert m["reverse_lm"]["recipe"] == "textgen/reverse_lm"
    assert m["reverse_lm"]["samples"] + m["reverse_lm"]["held_out_samples"] == 120
    assert m["lm_score"]["texts"] == 120 and m["lm_score"]["value"] > 1
    # A reverse LM trained on sentences of the reference's own documents scores it better than
    # one trained on as many sentences of other documents.
    from zoo.models.textgen.scores import reverse_lm_score

    near = reverse_lm_score(test[50:100], test[:50], tmp_path / "near").perplexity
    far = reverse_lm_score(train[-50:], test[:50], tmp_path / "far").perplexity
    assert near < far
    shutil.rmtree(tmp_path / "work")

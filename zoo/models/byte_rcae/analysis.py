"""Analyses of the byte-level auto-encoder ("Byte-level Recursive Convolutional Auto-Encoder
for Text", §3.2 and §4.2-4.4): `zoo eval` of a byte_autoencoder run or export.

A paragraph of l bytes is read as ids: its bytes, the end-of-sequence null byte (EOS = 0), then
padding (-1) up to 2^ceil(log2(l+1)) >= 4 (the static model: always its `fixed_length`). The
prediction at a position is the argmax of the model's 256 byte logits. Byte-level error is the
share of wrong predictions over the valid positions, the bytes plus the EOS (§3.2: "we only
back-propagate through valid bytes ... each sample contains an end-of-sequence byte"), pooled
over all positions of all paragraphs rather than averaged per paragraph.

Works with any Keras model mapping int32 ids [B, L] to logits [B, L, 256] that has the
`max_length` and `fixed_length` attributes of `ByteRCAE`.
"""
from __future__ import annotations

import collections
import math
from pathlib import Path

import keras
import numpy as np

from zoo.models.byte_rcae import plots
from zoo.models.byte_rcae.data import EOS, encode_bytes, fit_paragraphs, padded_length, unigram_error

__all__ = [
    "predict_bytes",
    "byte_error",
    "eos_length_difference",
    "error_by_length",
    "mutation_test",
    "evaluate_byte_autoencoder",
]

MUTATION_SAMPLES = 300  # the mutation sweep runs the model once per p, so it samples fewer


# -- running the model ---------------------------------------------------------------------------
def _input_length(model, n: int) -> int:
    fixed = getattr(model, "fixed_length", None)
    limit = getattr(model, "max_length", None)
    length = fixed or padded_length(n)
    if n + 1 > length or (limit is not None and length > limit):
        raise ValueError(f"a paragraph of {n} bytes (+ EOS) does not fit the model's "
                         f"{'fixed' if fixed else 'max'} length {fixed or limit}")
    return length


def _encode(model, paragraphs) -> list[np.ndarray]:
    return [encode_bytes(p, _input_length(model, len(p))) for p in paragraphs]


def _run(model, ids: list[np.ndarray], batch_size: int) -> list[np.ndarray]:
    """Argmax predictions for id rows of possibly different lengths, batched per length.

    One length per batch because the recursive model's depth depends on it (§2)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    groups: dict[int, list[int]] = collections.defaultdict(list)
    for i, row in enumerate(ids):
        groups[len(row)].append(i)
    out: list[np.ndarray | None] = [None] * len(ids)
    for length in sorted(groups):
        index = groups[length]
        for start in range(0, len(index), batch_size):
            chunk = index[start:start + batch_size]
            batch = np.stack([ids[i] for i in chunk])
            if hasattr(model, "generate"):
                # Sequential decoders are measured on their own decoded output (beam search,
                # §4.1), not on teacher-forced predictions, which would flatter them.
                pred = np.asarray(model.generate(batch)).astype(np.int32)
                pred = np.where(pred < 0, 0, pred)
            else:
                logits = model(batch, training=False)
                # Argmax on the device: moves [B, L] ids to the host instead of [B, L, 256] floats.
                pred = keras.ops.convert_to_numpy(keras.ops.argmax(logits, axis=-1)).astype(np.int32)
            for j, i in enumerate(chunk):
                out[i] = pred[j]
    return out  # type: ignore[return-value]


def predict_bytes(model, paragraphs, batch_size: int = 64) -> list[np.ndarray]:
    """Predicted byte ids per paragraph over its padded length (the static model: `fixed_length`).

    The prediction includes the positions after the EOS; cut it at its first 0 (§4.2) to read
    the generated text."""
    paragraphs = list(paragraphs)
    return _run(model, _encode(model, paragraphs), batch_size)


# -- metrics from predictions --------------------------------------------------------------------
def _wrong_valid(ids: np.ndarray, pred: np.ndarray, target: np.ndarray | None = None) -> tuple[int, int]:
    """(wrong, valid) positions of one paragraph; `target` defaults to the input ids."""
    target = ids if target is None else target
    valid = ids >= 0
    wrong = (pred != np.maximum(target, 0)) & valid
    return int(wrong.sum()), int(valid.sum())


def _pooled_error(pairs) -> float:
    pairs = list(pairs)
    wrong = sum(w for w, _ in pairs)
    valid = sum(v for _, v in pairs)
    if valid == 0:
        raise ValueError("no paragraph to measure the byte error on")
    return wrong / valid


def _eos_summary(paragraphs, preds) -> dict:
    diffs = []
    for p, pred in zip(paragraphs, preds):
        zeros = np.flatnonzero(pred == EOS)
        end = int(zeros[0]) if zeros.size else len(pred)
        diffs.append(end - len(p))
    if not diffs:
        raise ValueError("no paragraph to measure the end-of-sequence position on")
    counts = collections.Counter(diffs)
    return {"histogram": {d: counts[d] for d in sorted(counts)},
            "share_at_zero": counts[0] / len(diffs), "count": len(diffs)}


def _length_bins(paragraphs, pairs, bin_size: int, max_length: int) -> list[dict]:
    if bin_size < 1:
        raise ValueError(f"bin_size must be >= 1, got {bin_size}")
    lengths = [len(p) for p in paragraphs]
    # Bin k (upper limit k * bin_size) holds lengths (k-1)*bin_size+1 .. k*bin_size, as Figure 6;
    # the empty paragraph joins the first bin.
    bins = max(math.ceil(max_length / bin_size), *(math.ceil(n / bin_size) for n in lengths), 1)
    wrong, valid, count = np.zeros(bins, np.int64), np.zeros(bins, np.int64), np.zeros(bins, np.int64)
    for n, (w, v) in zip(lengths, pairs):
        k = max(1, math.ceil(n / bin_size)) - 1
        wrong[k] += w
        valid[k] += v
        count[k] += 1
    return [{"bin_upper": (k + 1) * bin_size, "count": int(count[k]),
             "error": float(wrong[k] / valid[k]) if valid[k] else None} for k in range(bins)]


# -- public analyses -----------------------------------------------------------------------------
def byte_error(model, paragraphs, batch_size: int = 64) -> float:
    """Byte-level error (Table 2, §3.2): wrong predictions / (bytes + EOS), pooled."""
    paragraphs = list(paragraphs)
    ids = _encode(model, paragraphs)
    preds = _run(model, ids, batch_size)
    return _pooled_error(_wrong_valid(i, p) for i, p in zip(ids, preds))


def eos_length_difference(model, paragraphs, batch_size: int = 64) -> dict:
    """Where the first predicted EOS lands relative to the true length (Figure 4, §4.2).

    Per paragraph: index of the first predicted 0 (or the padded length if none) minus its byte
    length. Returns {"histogram": {diff: count}, "share_at_zero": float, "count": int}; the paper
    reports 99.63% at zero for train and test."""
    paragraphs = list(paragraphs)
    return _eos_summary(paragraphs, predict_bytes(model, paragraphs, batch_size))


def error_by_length(model, paragraphs, bin_size: int = 64, max_length: int = 1024,
                    batch_size: int = 64) -> list[dict]:
    """Byte error per length bin (Figure 6, §4.4): [{"bin_upper", "count", "error"}].

    Bins are `bin_size` bytes wide with upper limits bin_size, 2*bin_size, ... up to max_length
    (the bin "512" holds lengths 449..512); an empty bin has error None."""
    paragraphs = list(paragraphs)
    ids = _encode(model, paragraphs)
    preds = _run(model, ids, batch_size)
    pairs = [_wrong_valid(i, p) for i, p in zip(ids, preds)]
    return _length_bins(paragraphs, pairs, bin_size, max_length)


def mutation_test(model, paragraphs, probabilities=np.linspace(0, 1, 11), seed: int = 0,
                  batch_size: int = 64) -> list[dict]:
    """Errors on randomly mutated inputs (Figure 5, §4.3): [{"p", "error_vs_groundtruth",
    "error_vs_mutated"}].

    Each real byte (never the EOS) is replaced with probability p by a uniformly random different
    byte in 1..255, kept non-zero so the EOS stays the only null byte. An identity-function model
    would score error_vs_mutated = 0 and error_vs_groundtruth near p; a real auto-encoder should
    do neither. The same random draws serve every p (a byte mutated at p is also mutated at any
    larger p), so the curves are not jittered by resampling."""
    paragraphs = list(paragraphs)
    ids = _encode(model, paragraphs)
    rng = np.random.default_rng(seed)
    draws = []
    for row, p in zip(ids, paragraphs):
        n = len(p)
        # (b - 1 + k) % 255 + 1 with k uniform in 1..254 is uniform over 1..255 minus b.
        replacement = (row[:n] - 1 + rng.integers(1, 255, size=n)) % 255 + 1
        draws.append((rng.random(n), replacement.astype(np.int32)))
    rows = []
    for prob in np.asarray(probabilities, dtype=float):
        mutated = []
        for row, p, (u, replacement) in zip(ids, paragraphs, draws):
            m = row.copy()
            n = len(p)
            hit = u < prob
            m[:n][hit] = replacement[hit]
            mutated.append(m)
        preds = _run(model, mutated, batch_size)
        rows.append({
            "p": float(prob),
            "error_vs_groundtruth": _pooled_error(_wrong_valid(i, q) for i, q in zip(ids, preds)),
            "error_vs_mutated": _pooled_error(_wrong_valid(i, q, m) for i, q, m in zip(ids, preds, mutated)),
        })
    return rows


def _sample(paragraphs: list[bytes], k: int, seed: int) -> list[bytes]:
    """Up to k paragraphs, a deterministic random subset kept in corpus order (§3.1)."""
    if len(paragraphs) <= k:
        return list(paragraphs)
    index = np.sort(np.random.default_rng(seed).choice(len(paragraphs), size=k, replace=False))
    return [paragraphs[i] for i in index]


def evaluate_byte_autoencoder(model, train_paragraphs, test_paragraphs, out_dir, *, samples: int = 1000,
                              mutation_steps: int = 11, length_bin: int = 64, seed: int = 0,
                              batch_size: int = 64) -> dict:
    """All analyses of §3.2 and §4.2-4.4 on samples of both splits; writes
    eos_length_difference.png, error_by_length.png, mutation.png into `out_dir`.

    Up to `samples` paragraphs per split (the paper used 1,000,000), the mutation sweep on up to
    min(samples, 300) test paragraphs with `mutation_steps` values of p in [0, 1], error by
    length in bins of `length_bin` bytes. Paragraphs longer than the model's max_length are cut
    as for training (`fit_paragraphs`). The unigram baseline predicts the most frequent train
    byte (EOS counted) everywhere; a working auto-encoder must beat it by far. Returns the
    metrics (JSON-ready: histogram keys are strings)."""
    limit = getattr(model, "fixed_length", None) or getattr(model, "max_length", 1024)
    out_dir = Path(out_dir)
    splits = {}
    for name, paragraphs, offset in (("train", train_paragraphs, 0), ("test", test_paragraphs, 1)):
        fitted = fit_paragraphs(list(paragraphs), limit, overflow="split")
        if not fitted:
            raise ValueError(f"no usable {name} paragraph to evaluate on")
        splits[name] = _sample(fitted, samples, seed + offset)

    metrics: dict = {"samples": {k: len(v) for k, v in splits.items()}}
    eos, bins = {}, {}
    for name, paragraphs in splits.items():
        ids = _encode(model, paragraphs)
        preds = _run(model, ids, batch_size)
        pairs = [_wrong_valid(i, p) for i, p in zip(ids, preds)]
        metrics[f"{name}_byte_error"] = _pooled_error(pairs)
        summary = _eos_summary(paragraphs, preds)
        # JSON object keys are strings; keep the dict we return identical to the file.
        eos[name] = {**summary, "histogram": {str(k): v for k, v in summary["histogram"].items()}}
        bins[name] = _length_bins(paragraphs, pairs, length_bin, limit)
    metrics["unigram_test_byte_error"] = float(unigram_error(splits["train"], splits["test"]))
    metrics["eos_length_difference"] = eos
    metrics["eos_share_at_zero"] = {k: v["share_at_zero"] for k, v in eos.items()}
    metrics["error_by_length"] = bins

    mutation_set = _sample(splits["test"], min(samples, MUTATION_SAMPLES), seed + 2)
    probabilities = np.linspace(0.0, 1.0, max(2, mutation_steps))
    metrics["mutation_samples"] = len(mutation_set)
    metrics["mutation"] = mutation_test(model, mutation_set, probabilities, seed=seed, batch_size=batch_size)

    files = {"eos_length_difference": plots.plot_eos_length_difference(eos, out_dir / "eos_length_difference.png"),
             "error_by_length": plots.plot_error_by_length(bins, out_dir / "error_by_length.png"),
             "mutation": plots.plot_mutation(metrics["mutation"], out_dir / "mutation.png")}
    metrics["plots"] = {k: v.name for k, v in files.items()}
    return metrics

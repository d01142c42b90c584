"""Text-generation metrics: exact, vectorised and offline.

Source: Semeniuta's dissertation, "Recurrent Neural Networks for Discriminative and Generative
Learning" (2019), ch. 5, §5.6.1 "Metrics" (BLEU-4, self-BLEU, unique n-grams, the Fréchet
distance of Eq. 5.6.1) and §5.6.3 (the study that checks them); beyond the dissertation, which
ends by saying that no metric splits precision from recall: MAUVE (Pillutla et al. 2021, "MAUVE:
Measuring the Gap Between Neural Text and Human Text using Divergence Frontiers", §3–4) and
precision/recall for distributions (Kynkäänniemi et al. 2019, "Improved Precision and Recall
Metric for Assessing Generative Models", §2).

Each metric is one sentence:

- `bleu`: BLEU-N (Papineni et al. 2002) of hypotheses against ONE reference set shared by all of
  them: clipped n-gram counts against the largest count of that n-gram in any one reference,
  brevity penalty against the reference length closest to each hypothesis (ties to the shorter),
  pooled over the corpus (nltk's `corpus_bleu` with every hypothesis given the whole reference
  set) or averaged per hypothesis (`aggregate="sentence_mean"`, Texygen's and fast-bleu's way);
  the smoothing is named.
- `self_bleu`: "independent" (the dissertation's: one sample set against a second, independent
  set from the same model) or "leave_one_out" (each sample against all the others, itself
  excluded, nothing truncated).
- `distinct_ngrams`: unique n-grams over the first `limit` samples and their ratio to all n-grams.
- `frechet_distance`: Eq. 5.6.1 between two embedding sets, the trace of the matrix square root
  from the eigenvalues of a symmetric PSD matrix similar to the covariances' product.
- `mauve`: the area under the divergence frontier of k-means histograms of two feature sets.
- `precision_recall`: the share of fakes inside the real k-NN manifold, and vice versa.

Sentences are lists of tokens (strings or ints) the caller made; `tokenize_words` is the stated
default for plain text. Bad input raises `TextgenInputError` with one line; no result is NaN.

Speed: the reference set is the same for every hypothesis, so the largest count of each n-gram
over the references is one table built once (for leave-one-out: the largest and second-largest
count with who holds the largest), and n-grams are exact int64 codes (token ids; an n-gram is
its (n-1)-gram prefix's code times the vocabulary size plus its last id, the prefix codes first
replaced by their dense ranks whenever the product could pass 2**62, so nothing can collide).

Results are frozen dataclasses whose `.to_dict()` carries the value with the sample sizes and the
settings' names. `BleuSplitMetric`, `SelfBleuSplitMetric`, `DistinctSplitMetric` and
`FrechetSplitMetric` report them over a whole evaluation split (`zoo.eval.metrics.SplitMetric`).
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from zoo.errors import ZooError


class TextgenInputError(ZooError, ValueError):
    """Input a text-generation metric cannot score (empty sets, NaN features, too few samples)."""


# -- tokens ----------------------------------------------------------------------------------
_TOKEN = re.compile(r"\w+|[^\w\s]")


def tokenize_words(text: str) -> list[str]:
    """Split plain text into tokens: a token is a run of word characters (Unicode letters,
    digits, underscore) or one other non-space character, so punctuation becomes its own token
    ("don't." -> ["don", "'", "t", "."]). Case is kept (no lowercasing); whitespace only
    separates."""
    if not isinstance(text, str):
        raise TextgenInputError(f"tokenize_words takes a str, not {type(text).__name__}")
    return _TOKEN.findall(text)


tokenize = tokenize_words


# -- results ---------------------------------------------------------------------------------
def _plain(v):
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


class _Result:
    def to_dict(self) -> dict[str, Any]:
        """The value with its sample sizes and settings, as JSON-ready plain types."""
        return {k: _plain(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class BleuResult(_Result):
    """BLEU or self-BLEU with what it was computed over.

    `precisions`: the modified n-gram precisions before smoothing (pooled over the corpus for
    aggregate "corpus", the mean of the per-hypothesis ones for "sentence_mean").
    `n_references`: the size of the reference set each hypothesis is scored against
    (`n_hypotheses - 1` for leave-one-out self-BLEU)."""
    value: float
    max_n: int
    smoothing: str
    aggregate: str
    n_hypotheses: int
    n_references: int
    precisions: tuple[float, ...]
    brevity_penalty: float
    hypothesis_length: int
    reference_length: int
    metric: str = "bleu"
    definition: str | None = None


@dataclass(frozen=True)
class DistinctResult(_Result):
    """Unique n-grams over the first `n_samples` samples (`limit` as asked; None = all) and
    their share of all n-grams (0.0 when the samples hold no n-gram of that order)."""
    n: int
    unique: int
    total: int
    ratio: float
    n_samples: int
    limit: int | None


@dataclass(frozen=True)
class FrechetResult(_Result):
    """Eq. 5.6.1 with its sample sizes (FD is biased at small n) and the covariance estimate:
    `shrinkage` is None (plain np.cov, ddof=1), "ledoit_wolf", or "fixed"; `shrinkage_x` and
    `shrinkage_y` are the ratios applied to each set's covariance."""
    value: float
    n_x: int
    n_y: int
    dim: int
    mean_term: float
    trace_term: float
    shrinkage: str | None = None
    shrinkage_x: float = 0.0
    shrinkage_y: float = 0.0
    encoder: str | None = None


@dataclass(frozen=True)
class MauveResult(_Result):
    """MAUVE, mean and standard deviation (ddof=0) over one k-means seed per entry of `seeds`."""
    value: float
    std: float
    values: tuple[float, ...]
    seeds: tuple[int, ...]
    n_p: int
    n_q: int
    dim: int
    pca_dim: int
    num_buckets: int
    explained_variance: float
    scaling_factor: float
    kmeans_init: str
    kmeans_redo: int
    kmeans_max_iter: int
    encoder: str | None = None


@dataclass(frozen=True)
class PrecisionRecallResult(_Result):
    """Kynkäänniemi et al.'s precision (share of fakes inside the real manifold) and recall
    (share of reals inside the fake manifold), with k and both sample sizes."""
    precision: float
    recall: float
    k: int
    n_real: int
    n_fake: int
    dim: int
    encoder: str | None = None


# -- input checks ----------------------------------------------------------------------------
def _sentences(sentences, what: str) -> list:
    if isinstance(sentences, (str, bytes)):
        raise TextgenInputError(f"{what} is one string: pass a list of token lists "
                                "(tokenize_words(text) for each text)")
    try:
        sentences = list(sentences)
    except TypeError:
        raise TextgenInputError(f"{what} is not a list of token lists "
                                f"({type(sentences).__name__})") from None
    if not sentences:
        raise TextgenInputError(f"{what} is empty: no sentences to score")
    for i, s in enumerate(sentences):
        if isinstance(s, (str, bytes)):
            raise TextgenInputError(f"{what}[{i}] is a string, not a list of tokens "
                                    "(tokenize_words(text) makes one)")
        if not isinstance(s, (list, tuple, np.ndarray)):
            raise TextgenInputError(f"{what}[{i}] is a {type(s).__name__}, not a list of tokens")
    return sentences


def _features(x, what: str) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise TextgenInputError(f"{what} is not a numeric array") from None
    if a.ndim != 2:
        raise TextgenInputError(f"{what} must be a 2-D array [samples, dim], got shape {a.shape}")
    if a.shape[0] == 0:
        raise TextgenInputError(f"{what} is empty: no samples")
    if a.shape[1] == 0:
        raise TextgenInputError(f"{what} has no feature dimensions")
    bad = ~np.isfinite(a)
    if bad.any():
        row = int(np.argwhere(bad)[0, 0])
        raise TextgenInputError(f"{what} holds NaN or infinite values (first in row {row})")
    return a


def _same_dim(x: np.ndarray, y: np.ndarray, wx: str, wy: str):
    if x.shape[1] != y.shape[1]:
        raise TextgenInputError(f"{wx} has dimension {x.shape[1]} but {wy} has {y.shape[1]}")


# -- n-gram counting -------------------------------------------------------------------------
class _Ngrams:
    """Exact n-gram codes of a list of sentences, order by order.

    Tokens get ids (a dict); a 1-gram's code is its id; an n-gram's code is (code of its
    (n-1)-gram prefix) * V + (id of its last token). When that could pass 2**62 the prefix codes
    are first replaced by their dense ranks (np.unique), so codes stay exact whatever the
    vocabulary size: two n-grams share a code if and only if they are equal."""

    def __init__(self, sentences: Sequence[Sequence]):
        vocab: dict = {}
        flat = [vocab.setdefault(t, len(vocab)) for s in sentences for t in s]
        self.ids = np.asarray(flat, dtype=np.int64)
        self.vocab_size = max(1, len(vocab))
        self.lengths = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
        self.sentence_of = np.repeat(np.arange(len(sentences), dtype=np.int64), self.lengths)
        ends = np.cumsum(self.lengths)
        # How many tokens remain in its sentence from each position on (the position included).
        self.room = ends[self.sentence_of] - np.arange(len(self.ids), dtype=np.int64)
        self._code = self.ids
        self._card = self.vocab_size
        self._order = 1

    def codes(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(sentence index, code) of every n-gram, in order of position (n must not decrease)."""
        if n < self._order:
            raise ValueError("n-gram orders must be asked for in increasing order")
        while self._order < n:
            m = max(0, len(self.ids) - self._order)   # positions with room for one more token
            prefix = self._code[:m]
            if self._card * self.vocab_size >= 2 ** 62:
                _, prefix = np.unique(prefix, return_inverse=True)
                prefix = prefix.astype(np.int64)
                self._card = int(prefix.max()) + 1 if m else 1
            self._code = prefix * self.vocab_size + self.ids[self._order:self._order + m]
            self._card *= self.vocab_size
            self._order += 1
        valid = self.room[:len(self._code)] >= n
        return self.sentence_of[:len(self._code)][valid], self._code[valid]


def _counts(sent: np.ndarray, code: np.ndarray):
    """Unique (sentence, n-gram) pairs: (sentence, dense n-gram rank, count, number of ranks)."""
    if len(code) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, 0
    _, rank = np.unique(code, return_inverse=True)
    rank = rank.astype(np.int64).reshape(-1)
    u = int(rank.max()) + 1
    key, cnt = np.unique(sent * u + rank, return_counts=True)
    return key // u, key % u, cnt.astype(np.int64), u


def _closest_lengths(hyp_len: np.ndarray, ref_len: np.ndarray) -> np.ndarray:
    """For each hypothesis length, the closest reference length (ties: the shorter, as nltk)."""
    u = np.unique(ref_len)
    idx = np.searchsorted(u, hyp_len)
    lo = u[np.clip(idx - 1, 0, len(u) - 1)]
    hi = u[np.clip(idx, 0, len(u) - 1)]
    take_lo = (idx == len(u)) | ((idx > 0) & (hyp_len - lo <= hi - hyp_len))
    return np.where(take_lo, lo, hi)


def _closest_lengths_excluding_self(lengths: np.ndarray) -> np.ndarray:
    """Leave-one-out: for sample i, the closest length among the other samples' lengths."""
    u, count = np.unique(lengths, return_counts=True)
    pos = np.searchsorted(u, lengths)
    shared = count[pos] >= 2          # another sample has the same length: distance 0
    has_lo, has_hi = pos > 0, pos < len(u) - 1
    lo = u[np.clip(pos - 1, 0, len(u) - 1)]
    hi = u[np.clip(pos + 1, 0, len(u) - 1)]
    take_lo = has_lo & (~has_hi | (lengths - lo <= hi - lengths))
    return np.where(shared, lengths, np.where(take_lo, lo, hi))


def _clip_stats(hyps: list, refs: list | None, max_n: int):
    """Per hypothesis and order: clipped matches and n-gram counts (nltk's numerator and
    max(1, denominator)), the hypothesis lengths and their closest reference lengths.
    `refs=None`: leave-one-out over `hyps`."""
    loo = refs is None
    sentences = hyps if loo else hyps + refs
    h = len(hyps)
    grams = _Ngrams(sentences)
    num = np.zeros((h, max_n), dtype=np.int64)
    for n in range(1, max_n + 1):
        sent, rank, cnt, u = _counts(*grams.codes(n))
        if u == 0:
            continue
        if loo:
            # Largest count of each n-gram in one sample, the sample holding it, and the
            # second largest (equal to the largest when two samples tie): the largest count
            # among the others is the second largest exactly for the holder of the largest.
            order = np.lexsort((-cnt, rank))
            rs, cs, ss = rank[order], cnt[order], sent[order]
            first = np.flatnonzero(np.r_[True, rs[1:] != rs[:-1]])
            max1 = np.zeros(u, dtype=np.int64)
            max2 = np.zeros(u, dtype=np.int64)
            holder = np.full(u, -1, dtype=np.int64)
            max1[rs[first]] = cs[first]
            holder[rs[first]] = ss[first]
            nxt = first + 1
            ok = nxt < len(rs)
            ok[ok] = rs[nxt[ok]] == rs[first[ok]]
            max2[rs[first[ok]]] = cs[nxt[ok]]
            ref_max = np.where(holder[rank] == sent, max2[rank], max1[rank])
            clipped = np.minimum(cnt, ref_max)
            num[:, n - 1] = np.bincount(sent, weights=clipped, minlength=h).astype(np.int64)
        else:
            is_ref = sent >= h
            ref_max = np.zeros(u, dtype=np.int64)
            np.maximum.at(ref_max, rank[is_ref], cnt[is_ref])
            hs = ~is_ref
            clipped = np.minimum(cnt[hs], ref_max[rank[hs]])
            num[:, n - 1] = np.bincount(sent[hs], weights=clipped, minlength=h).astype(np.int64)
    hyp_len = grams.lengths[:h]
    den = np.maximum(1, hyp_len[:, None] - np.arange(max_n)[None, :])
    closest = (_closest_lengths_excluding_self(hyp_len) if loo
               else _closest_lengths(hyp_len, grams.lengths[h:]))
    return num, den, hyp_len, closest


# The smoothings, by name (nltk's SmoothingFunction methods they equal).
SMOOTHINGS = {
    "none": "no smoothing: a zero n-gram precision makes BLEU 0 (nltk method0, which returns "
            "~1e-77 from sys.float_info.min and warns; here exactly 0 and silent)",
    "add_epsilon": "a zero n-gram precision becomes 0.1 / count (nltk method1, epsilon 0.1)",
    "add_one": "orders 2.. get (matches + 1) / (count + 1) (nltk method2, Lin and Och 2004)",
}
_SMOOTHING_ALIASES = {"floor": "add_epsilon", "method1": "add_epsilon", "epsilon": "add_epsilon",
                      "method0": "none", "method2": "add_one"}
AGGREGATES = ("corpus", "sentence_mean")
_EPSILON = 0.1


def _smoothing(name: str) -> str:
    key = _SMOOTHING_ALIASES.get(name, name)
    if key not in SMOOTHINGS:
        raise TextgenInputError(f"unknown BLEU smoothing {name!r}: one of "
                                f"{', '.join(SMOOTHINGS)} (aliases: {', '.join(_SMOOTHING_ALIASES)})")
    return key


def _corpus_value(num: np.ndarray, den: np.ndarray, hyp_total: int, ref_total: int,
                  smoothing: str) -> tuple[float, float]:
    """(BLEU, brevity penalty) from pooled counts, with nltk's operations in nltk's order."""
    max_n = len(num)
    n_sum = [int(v) for v in num]
    d_sum = [int(v) for v in den]
    if hyp_total > ref_total:
        bp = 1.0
    elif hyp_total == 0:
        bp = 0.0
    else:
        bp = math.exp(1 - ref_total / hyp_total)
    if n_sum[0] == 0:
        return 0.0, bp
    if smoothing == "none":
        if any(v == 0 for v in n_sum):
            return 0.0, bp
        p = [a / b for a, b in zip(n_sum, d_sum)]
    elif smoothing == "add_epsilon":
        p = [(_EPSILON / b if a == 0 else a / b) for a, b in zip(n_sum, d_sum)]
    else:  # add_one
        p = [n_sum[0] / d_sum[0]] + [(a + 1) / (b + 1) for a, b in zip(n_sum[1:], d_sum[1:])]
    w = 1 / max_n
    return bp * math.exp(math.fsum(w * math.log(pi) for pi in p if pi > 0)), bp


def _sentence_values(num, den, hyp_len, closest, smoothing) -> tuple[np.ndarray, np.ndarray]:
    """Per hypothesis BLEU (nltk's sentence_bleu with the same references) and brevity penalty."""
    num = num.astype(np.float64)
    den = den.astype(np.float64)
    hl = hyp_len.astype(np.float64)
    rl = closest.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        bp = np.where(hl > rl, 1.0, np.where(hl == 0, 0.0, np.exp(1 - rl / np.where(hl == 0, 1, hl))))
        if smoothing == "none":
            p = num / den
        elif smoothing == "add_epsilon":
            p = np.where(num == 0, _EPSILON, num) / den
        else:
            p = np.concatenate([num[:, :1] / den[:, :1], (num[:, 1:] + 1) / (den[:, 1:] + 1)], axis=1)
        logs = np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), -np.inf)
    value = np.where((num[:, 0] == 0) | np.isinf(logs).any(axis=1), 0.0,
                     bp * np.exp(np.where(np.isinf(logs), 0.0, logs).mean(axis=1)))
    return value, bp


def _bleu_from_stats(num, den, hyp_len, closest, max_n, smoothing, aggregate, n_refs,
                     metric="bleu", definition=None) -> BleuResult:
    if aggregate == "corpus":
        value, bp = _corpus_value(num.sum(0), den.sum(0), int(hyp_len.sum()), int(closest.sum()),
                                  smoothing)
        precisions = tuple(float(a / b) for a, b in zip(num.sum(0), den.sum(0)))
    else:
        values, bps = _sentence_values(num, den, hyp_len, closest, smoothing)
        value, bp = float(values.mean()), float(bps.mean())
        precisions = tuple(float(v) for v in (num / den).mean(axis=0))
    return BleuResult(value=float(value), max_n=max_n, smoothing=smoothing, aggregate=aggregate,
                      n_hypotheses=len(hyp_len), n_references=n_refs, precisions=precisions,
                      brevity_penalty=float(bp), hypothesis_length=int(hyp_len.sum()),
                      reference_length=int(closest.sum()), metric=metric, definition=definition)


def _check_bleu_args(max_n: int, smoothing: str, aggregate: str) -> str:
    if not isinstance(max_n, (int, np.integer)) or max_n < 1:
        raise TextgenInputError(f"max_n must be a positive integer, not {max_n!r}")
    if aggregate not in AGGREGATES:
        raise TextgenInputError(f"unknown BLEU aggregate {aggregate!r}: one of {', '.join(AGGREGATES)}")
    return _smoothing(smoothing)


def bleu(hypotheses, references, max_n: int = 4, smoothing: str = "none",
         aggregate: str = "corpus") -> BleuResult:
    """BLEU-`max_n` of every hypothesis against the whole reference set (§5.6.1's BLEU4).

    Clipped n-gram counts against the largest count of the n-gram in any single reference,
    brevity penalty against the reference length closest to each hypothesis' (ties to the
    shorter), uniform weights 1/max_n. `aggregate="corpus"` pools matches, counts and lengths
    over the hypotheses: nltk's `corpus_bleu([references] * len(hypotheses), hypotheses,
    weights, smoothing_function)`; `"sentence_mean"` averages each hypothesis' own BLEU (nltk's
    `sentence_bleu`; Texygen's "dataset-level" BLEU and fast-bleu's scores). `smoothing`: a
    name in `SMOOTHINGS` ("none", "add_epsilon" = nltk method1, "add_one" = nltk method2)."""
    smoothing = _check_bleu_args(max_n, smoothing, aggregate)
    hyps = _sentences(hypotheses, "hypotheses")
    refs = _sentences(references, "references")
    num, den, hyp_len, closest = _clip_stats(hyps, refs, max_n)
    return _bleu_from_stats(num, den, hyp_len, closest, max_n, smoothing, aggregate, len(refs))


SELF_BLEU_DEFINITIONS = ("leave_one_out", "independent")


def self_bleu(samples, second=None, max_n: int = 4, definition: str = "leave_one_out",
              smoothing: str = "none", aggregate: str = "corpus") -> BleuResult:
    """Self-BLEU, a diversity score (higher: samples more alike), by one of two definitions.

    "independent" (the dissertation's, §5.6.3 "Mode collapse"): BLEU of `samples` against a
    `second` set drawn independently from the same model. "leave_one_out": each sample against
    all the other samples (never itself; all of them, no truncation), pooled as `bleu` does —
    equal to nltk's `corpus_bleu([others(i) for i], samples)`."""
    smoothing = _check_bleu_args(max_n, smoothing, aggregate)
    if definition not in SELF_BLEU_DEFINITIONS:
        raise TextgenInputError(f"unknown self-BLEU definition {definition!r}: one of "
                                f"{', '.join(SELF_BLEU_DEFINITIONS)}")
    samples = _sentences(samples, "samples")
    if definition == "independent":
        if second is None:
            raise TextgenInputError("self-BLEU 'independent' needs a second sample set (second=...)")
        second = _sentences(second, "second sample set")
        num, den, hyp_len, closest = _clip_stats(samples, second, max_n)
        n_refs = len(second)
    else:
        if second is not None:
            raise TextgenInputError("self-BLEU 'leave_one_out' takes one sample set; "
                                    "a second set is definition='independent'")
        if len(samples) < 2:
            raise TextgenInputError("leave-one-out self-BLEU needs at least 2 samples, got 1")
        num, den, hyp_len, closest = _clip_stats(samples, None, max_n)
        n_refs = len(samples) - 1
    return _bleu_from_stats(num, den, hyp_len, closest, max_n, smoothing, aggregate, n_refs,
                            metric="self_bleu", definition=definition)


def distinct_ngrams(samples, n: int = 4, limit: int | None = None) -> DistinctResult:
    """Unique n-grams over the first `limit` samples (Table 5.4's "unique 4-grams"; all samples
    when `limit` is None) and the distinct-n ratio unique / all n-grams. Fewer samples than
    `limit` is refused: a count over fewer samples is not comparable."""
    samples = _sentences(samples, "samples")
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise TextgenInputError(f"n must be a positive integer, not {n!r}")
    if limit is not None:
        if not isinstance(limit, (int, np.integer)) or limit < 1:
            raise TextgenInputError(f"limit must be a positive integer, not {limit!r}")
        if len(samples) < limit:
            raise TextgenInputError(f"distinct {n}-grams over the first {limit} samples needs "
                                    f"{limit} samples, got {len(samples)}")
        samples = samples[:limit]
    _, code = _Ngrams(samples).codes(n)
    total = len(code)
    unique = len(np.unique(code))
    return DistinctResult(n=int(n), unique=int(unique), total=int(total),
                          ratio=float(unique / total) if total else 0.0,
                          n_samples=len(samples), limit=None if limit is None else int(limit))


# -- Fréchet distance ------------------------------------------------------------------------
def _covariance(x: np.ndarray) -> np.ndarray:
    return np.atleast_2d(np.cov(x, rowvar=False, ddof=1))


def ledoit_wolf_ratio(x: np.ndarray) -> float:
    """The shrinkage intensity of Ledoit and Wolf (2004, "A well-conditioned estimator for
    large-dimensional covariance matrices", Lemma 3.2 / Theorem 3.4) toward mu * I: with X
    centred, S = X'X / n, mu = tr(S) / d, delta = ||S - mu I||^2 / d and
    beta = min(delta, (sum_k ||x_k||^4 / n^2 - ||S||^2 / n) / d), the ratio beta / delta
    (0 when S is already a multiple of I)."""
    x = x - x.mean(axis=0)
    n, d = x.shape
    s = x.T @ x / n
    mu = np.trace(s) / d
    s_fro2 = float(np.sum(s * s))
    delta = (s_fro2 - 2 * mu * np.trace(s) + d * mu * mu) / d
    if delta <= 0:
        return 0.0
    row4 = float(np.sum(np.einsum("ij,ij->i", x, x) ** 2))
    beta = (row4 / n ** 2 - s_fro2 / n) / d
    return float(min(max(beta, 0.0), delta) / delta)


def _shrunk(c: np.ndarray, ratio: float) -> np.ndarray:
    if ratio == 0:
        return c
    d = c.shape[0]
    return (1 - ratio) * c + ratio * (np.trace(c) / d) * np.eye(d)


def _sym_sqrt(c: np.ndarray) -> np.ndarray:
    """The symmetric PSD square root (eigenvalues below 0 from rounding clipped to 0)."""
    w, v = np.linalg.eigh((c + c.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def trace_sqrt_product(c1: np.ndarray, c2: np.ndarray) -> float:
    """tr((C1 C2)^(1/2)) for symmetric PSD C1, C2, without complex numbers: C1 C2 is similar to
    the symmetric PSD matrix S' C2 S for any square root C1 = S S' (S = C1^(1/2), or the
    Cholesky factor L: L' C2 L = L^-1 (C1 C2) L), so the trace is the sum of the square roots of
    that matrix's eigenvalues (negative rounding clipped to 0). The Cholesky factor is the
    cheaper root (a fraction of an eigendecomposition); a singular C1 (no Cholesky factor) takes
    the symmetric eigen square root."""
    c1 = (c1 + c1.T) / 2
    try:
        s = np.linalg.cholesky(c1)
    except np.linalg.LinAlgError:
        s = _sym_sqrt(c1)
    m = s.T @ c2 @ s
    w = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sum(np.sqrt(np.clip(w, 0, None))))


def frechet_distance(x, y, shrinkage: str | float | None = None,
                     encoder: str | None = None) -> FrechetResult:
    """The Fréchet distance of Eq. 5.6.1 between embeddings `x` [n_x, d] and `y` [n_y, d]:
    ||mu_x - mu_y||^2 + tr(S_x + S_y - 2 (S_x S_y)^(1/2)), with np.cov (ddof=1) covariances and
    the trace of the square root from the eigenvalues of a symmetric PSD matrix similar to
    S_x S_y (`trace_sqrt_product`; never scipy's sqrtm of the non-symmetric product), so the
    result is real, finite and >= 0 (the trace part, the squared Bures distance, is clipped
    at 0 against rounding).

    A full-rank covariance needs d + 1 samples per set; fewer are refused unless `shrinkage`
    is given: "ledoit_wolf" (each covariance pulled toward tr(S)/d * I by Ledoit and Wolf's
    ratio) or a fixed ratio in (0, 1]. `encoder` (e.g. the encoder export's manifest hash) is
    recorded in the result."""
    x = _features(x, "x embeddings")
    y = _features(y, "y embeddings")
    _same_dim(x, y, "x embeddings", "y embeddings")
    (nx, d), ny = x.shape, y.shape[0]
    if min(nx, ny) < 2:
        raise TextgenInputError(f"Fréchet distance needs at least 2 samples per set for a "
                                f"covariance, got n_x={nx}, n_y={ny}")
    if shrinkage is None:
        if min(nx, ny) < d + 1:
            raise TextgenInputError(
                f"Fréchet distance over {d}-dim embeddings needs at least {d + 1} samples per set "
                f"for a full-rank covariance, got n_x={nx}, n_y={ny} (or pass "
                "shrinkage='ledoit_wolf' or a fixed ratio)")
        name, rx, ry = None, 0.0, 0.0
    elif shrinkage == "ledoit_wolf":
        name, rx, ry = "ledoit_wolf", ledoit_wolf_ratio(x), ledoit_wolf_ratio(y)
    elif isinstance(shrinkage, (int, float, np.floating)) and not isinstance(shrinkage, bool) \
            and 0 < float(shrinkage) <= 1:
        name, rx, ry = "fixed", float(shrinkage), float(shrinkage)
    else:
        raise TextgenInputError(f"shrinkage must be None, 'ledoit_wolf' or a ratio in (0, 1], "
                                f"not {shrinkage!r}")
    cx = _shrunk(_covariance(x), rx)
    cy = _shrunk(_covariance(y), ry)
    mean_term = float(np.sum((x.mean(axis=0) - y.mean(axis=0)) ** 2))
    trace_term = max(0.0, float(np.trace(cx) + np.trace(cy) - 2 * trace_sqrt_product(cx, cy)))
    return FrechetResult(value=mean_term + trace_term, n_x=nx, n_y=ny, dim=d, mean_term=mean_term,
                         trace_term=trace_term, shrinkage=name, shrinkage_x=rx, shrinkage_y=ry,
                         encoder=encoder)


# -- MAUVE -----------------------------------------------------------------------------------
_CHUNK_ELEMENTS = 1 << 22   # distance-matrix block size (32 MiB of float64)


def _assign(x: np.ndarray, xx: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, float]:
    """Nearest centroid of each row, and the sum of squared distances (the k-means objective)."""
    cc = np.einsum("ij,ij->i", c, c)
    step = max(1, _CHUNK_ELEMENTS // max(1, len(c)))
    labels = np.empty(len(x), dtype=np.int64)
    inertia = 0.0
    for s in range(0, len(x), step):
        d2 = cc[None, :] - 2 * (x[s:s + step] @ c.T)
        j = np.argmin(d2, axis=1)
        labels[s:s + step] = j
        inertia += float(np.sum(np.maximum(d2[np.arange(len(j)), j] + xx[s:s + step], 0)))
    return labels, inertia


def _kmeans_pp(x: np.ndarray, xx: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding (Arthur and Vassilvitskii 2007): each next centre drawn with
    probability proportional to the squared distance to the nearest centre so far."""
    n = len(x)
    centres = np.empty((k, x.shape[1]))
    i = int(rng.integers(n))
    centres[0] = x[i]
    d2 = np.maximum(xx - 2 * (x @ x[i]) + xx[i], 0)
    for j in range(1, k):
        total = d2.sum()
        if total > 0:
            i = int(np.searchsorted(np.cumsum(d2), rng.random() * total, side="right"))
            i = min(i, n - 1)
        else:   # fewer distinct points than clusters: any point
            i = int(rng.integers(n))
        centres[j] = x[i]
        d2 = np.minimum(d2, np.maximum(xx - 2 * (x @ x[i]) + xx[i], 0))
    return centres


KMEANS_INITS = ("k-means++", "random")


def kmeans(x: np.ndarray, k: int, seed: int, redo: int = 5, max_iter: int = 500,
           init: str = "k-means++") -> np.ndarray:
    """Cluster labels of Lloyd's k-means, the best objective of `redo` seedings, deterministic
    given `seed`; `init` "k-means++" (Arthur and Vassilvitskii 2007) or "random" (k distinct
    rows drawn uniformly, as faiss seeds). Lloyd stops when no label changes (a fixed point: more
    iterations would change nothing) or after `max_iter` iterations; a cluster that empties keeps
    its last centre."""
    x = np.asarray(x, dtype=np.float64)
    rng = np.random.default_rng(seed)
    xx = np.einsum("ij,ij->i", x, x)
    best, best_inertia = None, np.inf
    for _ in range(redo):
        c = (_kmeans_pp(x, xx, k, rng) if init == "k-means++"
             else x[rng.choice(len(x), size=k, replace=False)].copy())
        labels, inertia = _assign(x, xx, c)
        for _ in range(max_iter):
            counts = np.bincount(labels, minlength=k)
            order = np.argsort(labels, kind="stable")
            starts = np.r_[0, np.cumsum(counts)[:-1]]
            filled = counts > 0
            sums = np.add.reduceat(x[order], starts[filled], axis=0)
            c[filled] = sums / counts[filled, None]
            new, inertia = _assign(x, xx, c)
            if np.array_equal(new, labels):
                break
            labels = new
        if inertia < best_inertia:
            best, best_inertia = labels, inertia
    return best


def _kl(a: np.ndarray, r: np.ndarray) -> np.ndarray:
    """KL(a || r_i) for each row r_i (r > 0 wherever a > 0)."""
    m = a > 0
    return np.sum(a[m] * np.log(a[m] / r[:, m]), axis=1)


def mauve_from_histograms(p: np.ndarray, q: np.ndarray, scaling_factor: float = 5.0,
                          discretization: int = 25) -> float:
    """MAUVE of two histograms (Pillutla et al. 2021, §3): the divergence curve
    (exp(-c KL(Q||R_w)), exp(-c KL(P||R_w))) for R_w = w P + (1 - w) Q at `discretization`
    weights w evenly in [1e-6, 1 - 1e-6], closed by its end points (1, 0) and (0, 1); the area
    under it by the trapezoid rule, averaged over integrating along either axis (as mauve-text
    does)."""
    w = np.linspace(1e-6, 1 - 1e-6, discretization)[:, None]
    r = w * p[None, :] + (1 - w) * q[None, :]
    xs = np.r_[1.0, np.exp(-scaling_factor * _kl(q, r)), 0.0]
    ys = np.r_[0.0, np.exp(-scaling_factor * _kl(p, r)), 1.0]
    # Sorting along either axis follows the curve (x falls and y rises with w); points tied on
    # an axis keep the curve's order, so P = Q (every inner point at (1, 1)) gives area 1.
    idx = np.arange(len(xs))
    ix, iy = np.lexsort((-idx, xs)), np.lexsort((idx, ys))
    return float(0.5 * (np.trapezoid(ys[ix], xs[ix]) + np.trapezoid(xs[iy], ys[iy])))


def mauve(p_features, q_features, seeds: Sequence[int] = (0, 1, 2, 3, 4),
          num_buckets: int | str = "auto", explained_variance: float = 0.9,
          scaling_factor: float = 5.0, discretization: int = 25, kmeans_redo: int = 5,
          kmeans_max_iter: int = 500, kmeans_init: str = "k-means++",
          encoder: str | None = None) -> MauveResult:
    """MAUVE (Pillutla et al. 2021, "MAUVE: Measuring the Gap Between Neural Text and Human Text
    using Divergence Frontiers", §4 "quantization") between model features `p_features` and
    human features `q_features`, with mauve-text's defaults: rows L2-normalised; a joint PCA
    (of Q stacked on P) keeping the fewest leading components that explain `explained_variance`
    of the variance; k-means into `num_buckets` clusters ("auto": max(2, round(min(n_p, n_q) /
    10))); the two cluster histograms; `mauve_from_histograms` with c = `scaling_factor`.
    One value per k-means seed (k-means++ seeding here, best of `kmeans_redo`; mauve-text uses
    faiss with random seeding), reported as mean and std: the k-means seed moves MAUVE."""
    p = _features(p_features, "p_features")
    q = _features(q_features, "q_features")
    _same_dim(p, q, "p_features", "q_features")
    if not 0 < explained_variance <= 1:
        raise TextgenInputError(f"explained_variance must be in (0, 1], not {explained_variance!r}")
    if kmeans_init not in KMEANS_INITS:
        raise TextgenInputError(f"unknown k-means init {kmeans_init!r}: one of {', '.join(KMEANS_INITS)}")
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise TextgenInputError("MAUVE needs at least one k-means seed")
    if num_buckets == "auto":
        k = max(2, int(round(min(len(p), len(q)) / 10)))
    elif isinstance(num_buckets, (int, np.integer)) and num_buckets >= 2:
        k = int(num_buckets)
    else:
        raise TextgenInputError(f"num_buckets must be 'auto' or an integer >= 2, not {num_buckets!r}")
    if k > len(p) + len(q):
        raise TextgenInputError(f"MAUVE with {k} clusters needs at least {k} samples in all, "
                                f"got {len(p) + len(q)}")
    data = np.vstack([q, p])
    norms = np.linalg.norm(data, axis=1, keepdims=True)
    data = data / np.where(norms > 0, norms, 1.0)   # a zero row stays zero (as sklearn's normalize)
    data = data - data.mean(axis=0)
    var, vec = np.linalg.eigh(data.T @ data)
    var, vec = var[::-1], vec[:, ::-1]
    total = var.sum()
    if total > 0:
        ratio = np.cumsum(np.clip(var, 0, None)) / total
        keep = int(np.argmax(ratio >= min(explained_variance, ratio[-1]))) + 1
    else:   # every point the same: one component holds everything there is
        keep = 1
    z = data @ vec[:, :keep]
    values = []
    for seed in seeds:
        labels = kmeans(z, k, seed=seed, redo=kmeans_redo, max_iter=kmeans_max_iter, init=kmeans_init)
        hq = np.bincount(labels[:len(q)], minlength=k) / len(q)
        hp = np.bincount(labels[len(q):], minlength=k) / len(p)
        values.append(mauve_from_histograms(hp, hq, scaling_factor, discretization))
    return MauveResult(value=float(np.mean(values)), std=float(np.std(values)), values=tuple(values),
                       seeds=seeds, n_p=len(p), n_q=len(q), dim=p.shape[1], pca_dim=keep,
                       num_buckets=k, explained_variance=float(explained_variance),
                       scaling_factor=float(scaling_factor), kmeans_init=kmeans_init,
                       kmeans_redo=int(kmeans_redo), kmeans_max_iter=int(kmeans_max_iter),
                       encoder=encoder)


# -- precision and recall --------------------------------------------------------------------
_EPS = np.finfo(np.float64).eps


def _pairs_exact(a: np.ndarray, b: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Squared distances ||a[rows] - b[cols]||^2 computed from the differences, in slices."""
    out = np.empty(len(rows))
    step = max(1, _CHUNK_ELEMENTS // a.shape[1])
    for s in range(0, len(rows), step):
        diff = a[rows[s:s + step]] - b[cols[s:s + step]]
        out[s:s + step] = np.einsum("ij,ij->i", diff, diff)
    return out


def _blocks(a: np.ndarray, b: np.ndarray):
    """(start, stop, squared distances by the expansion, their error bound) per row block.

    The expansion |a|^2 + |b|^2 - 2 a.b is fast but off by rounding; every decision taken on it
    that is closer than the bound `slack` (4 d eps (|a|^2 + max |b|^2), above the rounding of a
    length-d dot product) is redone on the differences, so the results are those of exact
    distances (two equal points are at distance 0, not 1e-16)."""
    na = np.einsum("ij,ij->i", a, a)
    nb = np.einsum("ij,ij->i", b, b)
    step = max(1, _CHUNK_ELEMENTS // len(b))
    for s in range(0, len(a), step):
        e = min(len(a), s + step)
        d2 = na[s:e, None] + nb[None, :] - 2 * (a[s:e] @ b.T)
        slack = 4 * a.shape[1] * _EPS * (na[s:e] + nb.max()) + 1e-300
        yield s, e, d2, slack


def _kth_neighbour_sq(a: np.ndarray, k: int) -> np.ndarray:
    """Squared distance from each row of `a` to its k-th nearest other row (by index, so a
    duplicate of a point is a neighbour at distance 0)."""
    out = np.empty(len(a))
    for s, e, d2, slack in _blocks(a, a):
        rows = np.arange(e - s)
        d2[rows, s + rows] = np.inf
        kth = np.partition(d2, k - 1, axis=1)[:, k - 1]
        # Every true k nearest has an expanded distance within 2 * slack of the expanded k-th.
        r, c = np.nonzero(d2 <= (kth + 2 * slack)[:, None])
        exact = _pairs_exact(a, a, r + s, c)
        order = np.lexsort((exact, r))
        first = np.searchsorted(r[order], rows)
        out[s:e] = exact[order][first + k - 1]
    return out


def _inside_any_ball(queries: np.ndarray, centres: np.ndarray, radii_sq: np.ndarray) -> np.ndarray:
    """Whether each query lies in at least one ball (centre, radius), boundary included."""
    inside = np.zeros(len(queries), dtype=bool)
    for s, e, d2, slack in _blocks(queries, centres):
        gap = d2 - radii_sq[None, :]
        sure = (gap <= -slack[:, None]).any(axis=1)
        inside[s:e] = sure
        r, c = np.nonzero((np.abs(gap) <= slack[:, None]) & ~sure[:, None])
        if len(r):
            hit = _pairs_exact(queries, centres, r + s, c) <= radii_sq[c]
            inside[s + np.unique(r[hit])] = True
    return inside


def precision_recall(real, fake, k: int = 3, encoder: str | None = None) -> PrecisionRecallResult:
    """Improved precision and recall (Kynkäänniemi et al. 2019, §2): each set's manifold is the
    union of balls around its points with radius the distance to the point's k-th nearest
    neighbour in the same set; precision = share of `fake` rows inside the real manifold
    (boundary included), recall = share of `real` rows inside the fake manifold. Euclidean
    distances, exact (see `_blocks`), in row blocks of bounded memory."""
    real = _features(real, "real embeddings")
    fake = _features(fake, "fake embeddings")
    _same_dim(real, fake, "real embeddings", "fake embeddings")
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise TextgenInputError(f"k must be a positive integer, not {k!r}")
    for a, what in ((real, "real"), (fake, "fake")):
        if len(a) <= k:
            raise TextgenInputError(f"precision/recall with k={k} needs at least {k + 1} {what} "
                                    f"samples, got {len(a)}")
    r_real = _kth_neighbour_sq(real, k)
    r_fake = _kth_neighbour_sq(fake, k)
    precision = float(_inside_any_ball(fake, real, r_real).mean())
    recall = float(_inside_any_ball(real, fake, r_fake).mean())
    return PrecisionRecallResult(precision=precision, recall=recall, k=int(k), n_real=len(real),
                                 n_fake=len(fake), dim=real.shape[1], encoder=encoder)


# -- split metrics ---------------------------------------------------------------------------
# Thin adapters so a task can report these metrics over a whole evaluation split (periodic
# TensorBoard curves during training, `zoo eval` after): they gather the per-example rows the
# evaluation loop hands them (token ids padded with negative values, or embeddings) and reduce
# them once with the functions above. A split too small for a metric reports nothing (None),
# never NaN, so a short evaluation does not stop training.
from zoo.eval.metrics import SplitMetric  # noqa: E402 (the adapters only)


def _token_rows(rows, pad_id: int | None) -> list[list[int]]:
    """Token lists of a batch of id rows: ids < 0 (padding) and `pad_id` dropped."""
    out = []
    for row in np.asarray(rows):
        row = row[row >= 0]
        if pad_id is not None:
            row = row[row != pad_id]
        out.append(row.astype(np.int64).tolist())
    return out


class _TokenRowsMetric(SplitMetric):
    """Gathers the split's generated id rows (`inputs[0]`, `pad_id` and negative ids dropped)."""

    def start(self):
        return ()

    def add(self, state, outputs):
        return state + tuple(_token_rows(outputs[self.inputs[0]], self.pad_id))


@dataclass(frozen=True, eq=False)
class BleuSplitMetric(_TokenRowsMetric):
    """`bleu` of the split's generated id rows (`inputs[0]`) against a fixed reference set of id
    lists; reports the value and the precision of every order (`<name>_precision_<n>`)."""
    references: tuple = ()
    max_n: int = 4
    smoothing: str = "none"
    pad_id: int | None = None
    goal: str = field(default="max", kw_only=True)

    def result(self, state):
        if not state or not self.references:
            return None
        r = bleu(list(state), list(self.references), self.max_n, self.smoothing)
        return {"": r.value, **{f"precision_{n + 1}": p for n, p in enumerate(r.precisions)}}


@dataclass(frozen=True, eq=False)
class SelfBleuSplitMetric(_TokenRowsMetric):
    """Leave-one-out `self_bleu` of the split's generated id rows (`inputs[0]`); lower is more
    diverse."""
    max_n: int = 4
    smoothing: str = "none"
    pad_id: int | None = None

    def result(self, state):
        if len(state) < 2:
            return None
        return self_bleu(list(state), max_n=self.max_n, smoothing=self.smoothing).value


@dataclass(frozen=True, eq=False)
class DistinctSplitMetric(_TokenRowsMetric):
    """`distinct_ngrams` of the split's generated id rows: the distinct-n ratio, and the unique
    count as `<name>_unique` (over the first `limit` rows; None with fewer rows)."""
    n: int = 4
    limit: int | None = None
    pad_id: int | None = None
    goal: str = field(default="max", kw_only=True)

    def result(self, state):
        if not state or (self.limit is not None and len(state) < self.limit):
            return None
        r = distinct_ngrams(list(state), self.n, self.limit)
        return {"": r.ratio, "unique": float(r.unique)}


@dataclass(frozen=True, eq=False)
class FrechetSplitMetric(SplitMetric):
    """`frechet_distance` between the split's embeddings (`inputs[0]`, one row per example) and
    a fixed reference embedding array; None while the split has fewer rows than the covariance
    needs (dim + 1, unless `shrinkage`)."""
    reference: Any = None
    shrinkage: str | float | None = None

    def start(self):
        return ()

    def add(self, state, outputs):
        return state + (np.asarray(outputs[self.inputs[0]], dtype=np.float64),)

    def result(self, state):
        if not state or self.reference is None:
            return None
        x = np.concatenate(state)
        d = x.shape[1]
        if self.shrinkage is None and min(len(x), len(self.reference)) < d + 1:
            return None
        return frechet_distance(x, self.reference, shrinkage=self.shrinkage).value

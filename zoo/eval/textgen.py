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
- `frechet_distance`: Eq. 5.6.1 between two embedding sets, with a symmetric eigen square root.
- `mauve`: the area under the divergence frontier of k-means histograms of two feature sets.
- `precision_recall`: the share of fakes inside the real k-NN manifold, and vice versa.

Sentences are lists of tokens (strings or ints) the caller made; `tokenize_words` is the stated
default for plain text. Bad input raises `TextgenInputError` with one line; no result is NaN.

Speed: the reference set is the same for every hypothesis, so the largest count of each n-gram
over the references is one table built once (for leave-one-out: the largest and second-largest
count with who holds the largest), and n-grams are exact int64 codes (token ids, and for longer
n-grams the dense rank of the (n-1)-gram prefix times the vocabulary size plus the last id, so
nothing can collide).
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
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
            m = len(self.ids) - self._order   # positions with room for one more token
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

"""Interpolated Kneser-Ney n-gram language model (S. F. Chen and J. Goodman, "An Empirical Study
of Smoothing Techniques for Language Modeling", TR-10-98, Harvard, 1998: §3.5 interpolated
Kneser-Ney, §4.1.6 modified Kneser-Ney and the discount estimates).

What is counted
---------------
One int32 stream `s[0..N-1]` of token ids: documents joined by <eos> (id 0), the stream itself
starting with <eos>. It is read exactly as the neural LMs of the family read it: token `s[i]`,
i >= 1, is predicted from `s[0..i-1]`, the history before position 0 being <eos> padding, and
contexts run across document boundaries. So with `n = order` and `P = [<eos>] * (n-1) + s`:

* c_n(g), the count of an n-gram g, is the number of positions i in 1..N-1 whose n-gram
  `P[i .. i+n-1]` (the token s[i] and its n-1 predecessors, padded) equals g. `s[0]` is never
  counted as a predicted token.
* For k < n the count is the continuation count N1+(. g) = |{x : c_{k+1}(x g) > 0}| (the number
  of distinct tokens seen before the k-gram g). Every k-gram that ends at a predicted position
  has a predecessor inside P, so "x g occurs" and "c_{k+1}(x g) > 0" are the same thing.

The probability (all orders k = n, n-1, ..., 1, context h of length k-1, h' = h minus its
oldest token, c = c_k):

    p_k(w | h) = max(c(h w) - D_k(c(h w)), 0) / S_k(h) + gamma_k(h) * p_{k-1}(w | h')
    S_k(h)     = sum_w c(h w)
    gamma_k(h) = sum_w min(D_k(c(h w)), c(h w)) / S_k(h)      (= D N1+(h .) / S_k(h) for KN;
               = (D1 N1(h .) + D2 N2(h .) + D3+ N3+(h .)) / S_k(h) for modified KN)
    p_0(w)     = 1 / vocab_size                               (the uniform distribution)

and a context that was never followed by a predicted token (S_k(h) = 0, unseen or only at the
stream's start) backs off entirely: p_k(w | h) = p_{k-1}(w | h'). The unigram level (k = 1,
empty context) is therefore interpolated with the uniform distribution over the whole vocabulary,
so every id, also <unk> and ids never seen, has a nonzero probability, and every p_k(. | h) sums
to 1.

Discounts, per order k, from the count-of-counts n_r = |{g : c_k(g) = r}| of that order's counts
(raw at k = n, continuation counts below, as in Chen & Goodman's and KenLM's estimates):

* Kneser-Ney: D = n1 / (n1 + 2 n2) for every count.
* modified (`modified=True`): Y = n1 / (n1 + 2 n2), D1 = 1 - 2Y n2/n1, D2 = 2 - 3Y n3/n2,
  D3+ = 3 - 4Y n4/n3, D(c) = D1, D2, D3+ for c = 1, 2, >= 3.
* Where a formula is undefined (a zero count-of-counts in a denominator) or gives a discount
  outside (0, c] for its count c, that order falls back to KenLM's `--discount_fallback` values
  0.5 (KN) or (0.5, 1.0, 1.5) (modified), so that gamma > 0 for every seen context.
* `discount=` fixes them instead (e.g. to compare with a fixed-discount implementation).

Table layout (exact lookups, no hashing)
----------------------------------------
Every k-gram that occurs in P (a window ending anywhere in P, so every prefix of a stored k-gram
is stored too) gets the id of its rank in `keys[k]`, the sorted int64 array of
`parent_id * vocab_size + w` (parent = the id of the (k-1)-gram prefix; the empty context is id 0
at order 0, so `keys[1]` is the token itself). Looking a k-gram up is `searchsorted` and an
equality test. Per k-gram id: `num[k]` = max(c - D(c), 0); as a context (k < n): `denom[k]` =
S_{k+1}(h) and `gamma[k]` (1 where S = 0). `NGramTables` holds them in float64 (and is the
numpy reference: `prob`, `distribution`, `score_stream`).

In the graph
------------
`NGramLM` stores the tables as non-trainable weights (keys int64, the rest float32). One row's
full distribution is the interpolation unrolled, p(w) = sum_k W_k num_k(h_k w) / S_k(h_k) + W_0/V
with W_k the product of the gammas of the orders above k: the order-1 term is one dense [V]
vector (the empty context is every row's), and for orders 2..n the stored successors of a row's
context h are the keys in [h V, (h+1) V), one contiguous run found by two `tf.searchsorted`,
scattered into the [rows, V] sum. That costs O(rows x V + stored successors) rather than a
search of all V candidate keys per order (which gives the same numbers). The contexts' ids come
from the prefix chain along the row: the length-L window ending at t extends the length-(L-1)
window ending at t-1, so a row of T tokens needs order-1 searches of T keys. The sum is taken in
float64 (no underflow even at order 20) and its log returned as float32, the model's compute
dtype: log-probabilities accurate to about 1e-6. The runs are ragged, so the model does not
compile under XLA (nothing trains it).

Scoring (`score_texts`, the exported `score` signature) needs only each target's probability:
the window ids of lengths 1..n along the texts (the prefix chain again; the id of the length-k
window ending at a target is its k-gram's entry, the one of length k-1 before it its context),
then per order p = num_k(h w) / S_k(h) + gamma_k(h) p: n key lookups and a few gathers per token,
no distribution over the vocabulary. Texts are laid end to end (each after n-1 <eos>), not
padded, and scored in chunks of positions with the n-1 before as context, in bounded memory.
`NGramIndex` holds the keys in hash tables for it (a binary search is 2-3x slower end to end).
`NGramTables.write_arpa` writes the same model as an ARPA back-off file (KenLM, SRILM).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from zoo.registry import register_model, serializable

EOS = 0
MAX_ORDER = 20
# KenLM's `--discount_fallback` defaults: used for an order whose count-of-counts give no valid
# discount (tiny corpora, a level where every count is 1, ...).
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)
# Positions `NGramLM.score_texts` scores at a time: bounds its memory (~100 bytes each).
SCORE_CHUNK = 1 << 18


def _check_order(order) -> int:
    if not isinstance(order, (int, np.integer)) or isinstance(order, bool) or not 1 <= order <= MAX_ORDER:
        raise ValueError(f"order must be an integer in 1..{MAX_ORDER}, got {order!r}")
    return int(order)


def _check_vocab(vocab_size) -> int:
    if not isinstance(vocab_size, (int, np.integer)) or isinstance(vocab_size, bool) or vocab_size < 1:
        raise ValueError(f"vocab_size must be a positive integer, got {vocab_size!r}")
    return int(vocab_size)


def count_of_counts(counts) -> np.ndarray:
    """[n1, n2, n3, n4]: how many entries of `counts` are exactly 1, 2, 3, 4."""
    counts = np.asarray(counts)
    return np.bincount(np.clip(counts, 0, 5), minlength=6)[1:5].astype(np.int64)


def kn_discounts(counts, modified: bool = False) -> np.ndarray:
    """(D1, D2, D3+) of one order from its counts (three equal values for plain Kneser-Ney).

    Chen & Goodman's estimates from n1..n4; KenLM's fallback where undefined or outside (0, c]
    (see the module docstring)."""
    n1, n2, n3, n4 = (float(x) for x in count_of_counts(counts))
    if not modified:
        d = n1 / (n1 + 2 * n2) if n1 > 0 else 0.0
        return np.full(3, d if 0 < d <= 1 else FALLBACK_DISCOUNTS[0])
    if n1 > 0 and n2 > 0 and n3 > 0:
        y = n1 / (n1 + 2 * n2)
        d = np.array([1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3])
        if np.all(d > 0) and np.all(d <= np.array([1.0, 2.0, 3.0])):
            return d
    return np.array(FALLBACK_DISCOUNTS)


def _fixed_discounts(discount, order, modified) -> np.ndarray:
    """`discount=` as an [order, 3] array, validated (0 <= D(c) <= c)."""
    if not modified:
        d = np.broadcast_to(np.asarray(discount, np.float64), (order,)) if np.ndim(discount) == 0 \
            else np.asarray(discount, np.float64)
        if d.shape != (order,) or not np.all((d >= 0) & (d <= 1)):
            raise ValueError(f"discount must be a number or {order} numbers in [0, 1] (one per order), "
                             f"got {discount!r}")
        return np.repeat(d[:, None], 3, axis=1)
    d = np.asarray(discount, np.float64)
    if d.shape != (order, 3) or not np.all((d >= 0) & (d <= np.array([1.0, 2.0, 3.0]))):
        raise ValueError(f"discount of modified KN must be {order} triples (D1, D2, D3+) with "
                         f"0 <= D_c <= c, got {discount!r}")
    return d


def _unique_inverse(a: np.ndarray):
    """`np.unique(a, return_inverse=True)` for non-negative int64 `a`, faster: the position is
    packed into the low bits so one plain sort (SIMD in numpy) replaces the slower argsort."""
    shift = max(int(a.size - 1).bit_length(), 1)
    if a.size == 0 or int(a.max()).bit_length() + shift > 62:
        keys, inv = np.unique(a, return_inverse=True)
        return keys, inv.astype(np.int64).ravel()
    packed = np.sort((a << shift) | np.arange(a.size, dtype=np.int64))
    ordered = packed >> shift
    new = np.empty(a.size, bool)
    new[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    inv = np.empty(a.size, np.int64)
    inv[packed & ((1 << shift) - 1)] = np.cumsum(new) - 1
    return ordered[new], inv


def _find(sorted_keys: np.ndarray, q) -> np.ndarray:
    """Index of every query in `sorted_keys`, -1 where absent (negative queries never match)."""
    q = np.asarray(q, np.int64)
    if sorted_keys.size == 0:
        return np.full(q.shape, -1, np.int64)
    idx = np.minimum(np.searchsorted(sorted_keys, q), sorted_keys.size - 1)
    return np.where(sorted_keys[idx] == q, idx, -1)


@dataclass
class NGramTables:
    """Counted interpolated Kneser-Ney tables (see the module docstring for every quantity).

    Lists are indexed by order k = 0..order (k = 0: the empty context, one entry):
    keys[k] int64 sorted (parent_id * vocab_size + w), counts[k] int32 (raw at k = order,
    continuation below), num[k] float64 = max(c - D(c), 0); denom[k], gamma[k] float64 for the
    contexts k = 0..order-1; discounts [order, 3] float64 (row k-1: D1, D2, D3+ of order k).
    """

    order: int
    vocab_size: int
    modified: bool
    keys: list
    counts: list
    num: list
    denom: list
    gamma: list
    discounts: np.ndarray = field(repr=False)

    @property
    def sizes(self) -> list[int]:
        """Entries per order 1..order: `NGramLM(table_sizes=...)`."""
        return [int(k.size) for k in self.keys[1:]]

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for part in (self.keys, self.counts, self.num, self.denom, self.gamma)
                   for a in part)

    def _history(self, context) -> list[int]:
        """The last order-1 tokens of `context`, <eos>-padded on the left."""
        n = self.order
        return ([EOS] * (n - 1) + [int(t) for t in context])[len(context):] if n > 1 else []

    def node_id(self, tokens) -> int:
        """Id of the k-gram `tokens` at order len(tokens) (0 for the empty one), -1 if absent."""
        node = 0
        for k, t in enumerate(tokens, start=1):
            if node < 0 or not 0 <= int(t) < self.vocab_size:
                return -1
            node = int(_find(self.keys[k], node * self.vocab_size + int(t)))
        return node

    def prob(self, context, w: int) -> float:
        """p(w | context) by the recursion of the module docstring, one order at a time (the
        reference the vectorised paths are tested against). Only the last order-1 tokens of
        `context` matter; a shorter context is <eos>-padded."""
        hist, n, V = self._history(context), self.order, self.vocab_size
        p = 1.0 / V
        for k in range(1, n + 1):
            h = self.node_id(hist[n - k:])          # the last k-1 tokens
            if h < 0 or self.denom[k - 1][h] == 0:  # unseen context: back off entirely
                continue
            j = int(_find(self.keys[k], h * V + int(w))) if 0 <= int(w) < V else -1
            term = self.num[k][j] / self.denom[k - 1][h] if j >= 0 else 0.0
            p = term + self.gamma[k - 1][h] * p
        return float(p)

    def log_prob(self, context, w: int) -> float:
        """Natural log of `prob(context, w)`."""
        return float(np.log(self.prob(context, w)))

    def distribution(self, context) -> np.ndarray:
        """p(. | context), float64 [vocab_size] (vectorised over the vocabulary)."""
        hist, n, V = self._history(context), self.order, self.vocab_size
        w = np.arange(V, dtype=np.int64)
        p = np.full(V, 1.0 / V)
        for k in range(1, n + 1):
            h = self.node_id(hist[n - k:])
            if h < 0 or self.denom[k - 1][h] == 0:
                continue
            j = _find(self.keys[k], h * V + w)
            term = np.where(j >= 0, self.num[k][np.maximum(j, 0)], 0.0) / self.denom[k - 1][h]
            p = term + self.gamma[k - 1][h] * p
        return p

    def score_stream(self, ids) -> np.ndarray:
        """log p(ids[t] | ids[:t]) for t = 1..len(ids)-1, float64 (natural log); the history
        before ids[0] is <eos> padding, as in `NGramLM.call`. Vectorised over positions."""
        ids = np.asarray(ids, np.int64).ravel()
        n, V = self.order, self.vocab_size
        if ids.size and (ids.min() < 0 or ids.max() >= V):
            bad = int(ids[(ids < 0) | (ids >= V)][0])
            raise ValueError(f"token id {bad} is outside the vocabulary 0..{V - 1}")
        if ids.size < 2:
            return np.zeros(0)
        x = np.concatenate([np.full(n - 1, EOS, np.int64), ids])
        # Ids of the windows of length L ending at every position of x (prefix chain: the window
        # of length L ending at p extends the one of length L-1 ending at p-1).
        wid = [np.zeros(x.size, np.int64)]
        for L in range(1, n):
            before = np.concatenate([[0 if L == 1 else -1], wid[-1][:-1]])
            wid.append(_find(self.keys[L], before * V + x))
        at = np.arange(n - 1, n - 2 + ids.size)     # the position just before each target
        w = ids[1:]
        p = np.full(w.size, 1.0 / V)
        for k in range(1, n + 1):
            h = wid[k - 1][at]
            seen = h >= 0
            hh = np.maximum(h, 0)
            den = np.where(seen, self.denom[k - 1][hh], 0.0)
            j = np.where(seen, _find(self.keys[k], hh * V + w), -1)
            term = np.where(j >= 0, self.num[k][np.maximum(j, 0)], 0.0) / np.where(den > 0, den, 1.0)
            p = np.where(den > 0, term + self.gamma[k - 1][hh] * p, p)
        return np.log(p)


    def ngram_log10_probs(self) -> list:
        """Per order k = 1..n, log10 p_k(w | h) of every stored k-gram h w (aligned with
        `keys[k]`): the recursion of `prob`, vectorised over the table through each k-gram's
        suffix (h w minus its oldest token), which is stored too (a window's suffix is a
        window). Index 0 is unused (the empty context)."""
        n, V = self.order, self.vocab_size
        suffix, p = np.zeros(1, np.int64), np.full(1, 1.0 / V)
        out = [None]
        for k in range(1, n + 1):
            parent, w = self.keys[k] // V, self.keys[k] % V
            # the suffix of h w: the suffix of h (order k-2) extended by w, at order k-1
            suf = _find(self.keys[k - 1], suffix[parent] * V + w) if k > 1 else np.zeros(parent.size, np.int64)
            if np.any(suf < 0):
                raise ValueError(f"order {k} has k-grams whose suffix is not stored: not counted tables")
            den = self.denom[k - 1][parent]
            lower = p[suf]
            pk = np.where(den > 0, self.num[k] / np.where(den > 0, den, 1.0) + self.gamma[k - 1][parent] * lower, lower)
            out.append(np.log10(pk, out=np.full(pk.size, -np.inf), where=pk > 0))
            suffix, p = suf, pk
        return out

    def write_arpa(self, path, words=None) -> None:
        """Write the model as an ARPA back-off file (the format of SRILM and KenLM), with the
        same probabilities: every stored k-gram with log10 p_k(w | h) (`prob`) and, below the
        top order, log10 gamma_k as its back-off weight; every id is a unigram (those never
        seen with gamma_0 / V). Back-off files apply a context's weight only when the k-gram is
        not stored, which is interpolated Kneser-Ney's recursion exactly, since an absent
        k-gram's discounted count is 0 and an unstored context backs off entirely.

        words: one string per id, without white space (default: `<eos>`, `<unk>`, then the
        ids as decimal numbers). `<s>` and `</s>` are added with log10 p = -99 if absent
        (KenLM requires them; nothing predicts them): the zoo's beginning of text is n-1
        <eos>, so score with KenLM as `model.score(" ".join([<eos>] * (n-1) + words),
        bos=False, eos=False)` and drop the first n-1 words' scores (`full_scores`)."""
        n, V = self.order, self.vocab_size
        if words is None:
            words = ["<eos>", "<unk>"][:V] + [str(i) for i in range(2, V)]
        words = [str(w) for w in words]
        if len(words) != V or len(set(words)) != V or any(not w or len(w.split()) != 1 or w != w.strip()
                                                          for w in words):
            raise ValueError(f"words must be {V} distinct non-empty strings without white space")
        with np.errstate(divide="ignore"):
            logp = self.ngram_log10_probs()
            bo = [np.log10(g) for g in self.gamma]
        extra = [w for w in ("<s>", "</s>") if w not in words]
        fmt = lambda a: np.char.mod("%.7g", np.maximum(a, -99.0))  # noqa: E731
        # The unigrams: every id (an unseen one has the order-1 entry "absent": gamma_0 / V).
        uni = np.full(V, np.log10(self.gamma[0][0] / V) if self.denom[0][0] > 0 else np.log10(1.0 / V))
        uni[self.keys[1]] = logp[1]
        uni_bo = np.zeros(V)
        if n > 1:
            uni_bo[self.keys[1]] = bo[1]
        names = np.array(words, dtype=object)
        with open(path, "w", encoding="utf-8") as f:
            f.write("\\data\\\n")
            f.write(f"ngram 1={V + len(extra)}\n")
            for k in range(2, n + 1):
                f.write(f"ngram {k}={self.keys[k].size}\n")
            f.write("\n\\1-grams:\n")
            cols = [fmt(uni), names.astype(str)] + ([fmt(uni_bo)] if n > 1 else [])
            f.write("\n".join("\t".join(r) for r in zip(*cols)) + "\n")
            for w in extra:
                f.write(f"-99\t{w}" + ("\t0\n" if n > 1 else "\n"))
            # The text of each stored k-gram, built along the parent chain.
            text = names[self.keys[1] % V].astype(str)
            for k in range(2, n + 1):
                parent, w = self.keys[k] // V, self.keys[k] % V
                text = np.char.add(np.char.add(text[parent], " "), names[w].astype(str))
                cols = [fmt(logp[k]), text] + ([fmt(bo[k])] if k < n else [])
                f.write(f"\n\\{k}-grams:\n")
                f.write("\n".join("\t".join(r) for r in zip(*cols)) + "\n")
            f.write("\n\\end\\\n")


def count_ngrams(stream, order: int, vocab_size: int, modified: bool = False,
                 discount=None) -> NGramTables:
    """Count one token stream into interpolated (modified) Kneser-Ney tables.

    Args:
        stream: 1-D int token ids in [0, vocab_size), documents joined by <eos>, starting with <eos>.
        order: n in 1..20.
        vocab_size: all ids incl. <eos> and <unk>.
        modified: three discounts per order (Chen & Goodman §4.1.6) instead of one.
        discount: None estimates the discounts from the count-of-counts; otherwise a number or
            one number per order (KN), or one (D1, D2, D3+) triple per order (modified).

    Vectorised numpy: one sort of the stream's window keys per order.
    """
    n, V = _check_order(order), _check_vocab(vocab_size)
    s = np.asarray(stream)
    if s.ndim != 1 or not (np.issubdtype(s.dtype, np.integer) or s.size == 0):
        raise ValueError(f"the stream must be a 1-D array of integer token ids, got shape {s.shape} "
                         f"and dtype {s.dtype}")
    if s.size < n:
        raise ValueError(f"the stream has {s.size} tokens, fewer than the order {n}")
    if s.min() < 0 or s.max() >= V:
        bad = s[(s < 0) | (s >= V)][0]
        raise ValueError(f"token id {int(bad)} is outside the vocabulary 0..{V - 1}")
    fixed = None if discount is None else _fixed_discounts(discount, n, modified)
    x = np.concatenate([np.full(n - 1, EOS, np.int64), s.astype(np.int64)])
    M = x.size

    keys, counts = [np.zeros(1, np.int64)], [None] * (n + 1)
    # ids of the windows of the previous length, at positions k-2..M-1 (length 0: the root).
    prev = np.zeros(M + 1, np.int64)
    for k in range(1, n + 1):
        if keys[-1].size * V >= 2 ** 62:
            raise ValueError(f"order {k} needs keys beyond int64 ({keys[-1].size} contexts x {V} tokens)")
        # The windows of length k, at positions k-1..M-1: their sorted keys and ids.
        level_keys, ids = _unique_inverse(prev[:-1] * V + x[k - 1:])
        keys.append(level_keys)
        if k >= 2:
            # Continuation counts of order k-1: distinct predecessors of each (k-1)-gram among the
            # k-grams that end at a predicted position (x index >= n).
            suffix = np.empty(level_keys.size, np.int64)
            suffix[ids] = prev[1:]
            seen = np.zeros(level_keys.size, bool)
            seen[ids[n - k + 1:]] = True
            counts[k - 1] = np.bincount(suffix[seen], minlength=keys[k - 1].size)
            del suffix, seen
        if k == n:
            counts[n] = np.bincount(ids[1:], minlength=level_keys.size)   # targets s[1..N-1]
        prev = ids
    del prev

    counts[0] = np.zeros(1, np.int64)
    if M < 2 ** 31:     # counts never exceed the stream's length
        counts = [c.astype(np.int32) for c in counts]
    num, denom, gamma = [np.zeros(1)], [], []
    discounts = np.zeros((n, 3))
    for k in range(1, n + 1):
        c = counts[k]
        d = kn_discounts(c, modified) if fixed is None else fixed[k - 1]
        discounts[k - 1] = d
        dc = np.where(c >= 3, d[2], np.where(c == 2, d[1], d[0])) * (c > 0)
        nk = np.maximum(c - dc, 0.0)
        num.append(nk)
        parent = keys[k] // V
        size = keys[k - 1].size
        den = np.bincount(parent, weights=c, minlength=size).astype(np.float64)
        removed = np.bincount(parent, weights=c - nk, minlength=size)
        denom.append(den)
        gamma.append(np.where(den > 0, removed / np.where(den > 0, den, 1.0), 1.0))
    return NGramTables(order=n, vocab_size=V, modified=bool(modified), keys=keys, counts=counts,
                       num=num, denom=denom, gamma=gamma, discounts=discounts)


# -- the Keras model -------------------------------------------------------------------------
@serializable
class NGramLM(keras.Model):
    """Interpolated Kneser-Ney n-gram LM as a Keras model (no trainable weights).

    Follows the family's LM contract: `call(ids)` -> log-probabilities [B, T, V] of the next
    token (valid logits; the history before position 0 is <eos> padding), `initial_state(batch)`
    -> (the last order-1 tokens, int32 [B, order-1], <eos>-filled,), `step(tokens, state)`,
    `context_length = order`.

    Args:
        order: n in 1..20.
        vocab_size: all ids incl. <eos> (0) and <unk> (1).
        modified: whether the tables to be assigned are modified KN (checked by `assign_tables`).
        table_sizes: entries per order 1..n (`NGramTables.sizes`): the shapes of the table
            weights, so that `keras.models.load_model` restores a counted model. None or zeros:
            empty tables, the uniform distribution until `assign_tables`.
    """

    counted = True   # trained by counting (`assign_tables`), not by gradient

    def __init__(self, order=5, vocab_size=258, modified=False, table_sizes=None, **kwargs):
        super().__init__(**kwargs)
        self.order = _check_order(order)
        self.vocab_size = _check_vocab(vocab_size)
        self.modified = bool(modified)
        if table_sizes is None:
            table_sizes = [0] * self.order
        sizes = list(table_sizes)
        if len(sizes) != self.order or not all(
                isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0 for v in sizes):
            raise ValueError(f"table_sizes must be {self.order} non-negative integers (one per order), "
                             f"got {table_sizes!r}")
        self.table_sizes = [int(v) for v in sizes]

    @property
    def context_length(self) -> int:
        return self.order

    @property
    def input_dtype(self) -> str:
        return "int32"

    def build(self, input_shape=None):
        sizes = [1] + self.table_sizes
        # One attribute per weight; keys exact in int64, the statistics in float32.
        for k in range(1, self.order + 1):
            setattr(self, f"keys_{k}", self.add_weight(name=f"keys_{k}", shape=(sizes[k],), dtype="int64",
                                                       initializer="zeros", trainable=False))
            setattr(self, f"num_{k}", self.add_weight(name=f"num_{k}", shape=(sizes[k],), dtype="float32",
                                                      initializer="zeros", trainable=False))
        for k in range(self.order):
            setattr(self, f"denom_{k}", self.add_weight(name=f"denom_{k}", shape=(sizes[k],), dtype="float32",
                                                        initializer="zeros", trainable=False))
            # gamma 1 with no counts: the untrained model is p_0, the uniform distribution.
            setattr(self, f"gamma_{k}", self.add_weight(name=f"gamma_{k}", shape=(sizes[k],), dtype="float32",
                                                        initializer="ones", trainable=False))
        self.built = True

    def get_build_config(self):
        # The weights' shapes come from `table_sizes` (in get_config), not from an input shape.
        return {"table_sizes": list(self.table_sizes)} if self.built else None

    def build_from_config(self, config):
        self._ensure_built()

    def _ensure_built(self):
        # Through Keras's build wrapper with an input shape of ids [B, T], which `export()` reads;
        # never twice (a second build() would overwrite the recorded shape).
        if not self.built:
            self.build((None, None))

    def assign_tables(self, tables: NGramTables):
        """Write counted tables into the weights (their shapes must already match)."""
        for what, mine, theirs in (("order", self.order, tables.order),
                                   ("vocab_size", self.vocab_size, tables.vocab_size),
                                   ("modified", self.modified, tables.modified),
                                   ("table_sizes", self.table_sizes, tables.sizes)):
            if mine != theirs:
                raise ValueError(f"the tables do not fit the model: {what} is {theirs!r} in the tables "
                                 f"and {mine!r} in the model")
        self._ensure_built()
        for k in range(1, self.order + 1):
            getattr(self, f"keys_{k}").assign(tables.keys[k].astype(np.int64))
            getattr(self, f"num_{k}").assign(tables.num[k].astype(np.float32))
        for k in range(self.order):
            getattr(self, f"denom_{k}").assign(tables.denom[k].astype(np.float32))
            getattr(self, f"gamma_{k}").assign(tables.gamma[k].astype(np.float32))
        return self

    # -- graph lookups -----------------------------------------------------------------------
    def _find(self, k, q):
        """Ids of the order-k keys `q` (int64, any shape), -1 where absent."""
        size = self.table_sizes[k - 1]
        if size == 0:
            return tf.fill(tf.shape(q), tf.constant(-1, tf.int64))
        keys = tf.convert_to_tensor(getattr(self, f"keys_{k}"))
        flat = tf.reshape(q, [-1])
        idx = tf.minimum(tf.searchsorted(keys, flat, side="left", out_type=tf.int64), size - 1)
        hit = tf.equal(tf.gather(keys, idx), flat)
        return tf.reshape(tf.where(hit, idx, tf.constant(-1, tf.int64)), tf.shape(q))

    def _next_log_probs(self, x):
        """x: int tokens [R, W], W >= order-1. For each position p in order-2..W-1 (C = W-order+2
        columns), log p(next | the window ending at p): float32 [R, C, V]."""
        n, V = self.order, self.vocab_size
        x = tf.cast(x, tf.int64)
        R, W = tf.shape(x)[0], tf.shape(x)[1]
        C = W - (n - 2)
        # ctx[L]: ids of the length-L windows ending at positions n-2..W-1, as [R*C].
        ctx = [tf.zeros([R * C], tf.int64)]
        wid = tf.zeros([R, W + 1], tf.int64)            # length 0, positions -1..W-1
        for L in range(1, n):
            wid = self._find(L, wid[:, :-1] * V + x[:, L - 1:])      # positions L-1..W-1
            ctx.append(tf.reshape(wid[:, n - 1 - L:], [-1]))
        rows = R * C

        def gathered(name, k, ids, missing):
            if k and not self.table_sizes[k - 1]:      # an empty table: every id is absent
                return tf.fill(tf.shape(ids), tf.constant(missing, tf.float64))
            table = tf.cast(tf.convert_to_tensor(getattr(self, f"{name}_{k}")), tf.float64)
            return tf.where(ids >= 0, tf.gather(table, tf.maximum(ids, 0)), tf.constant(missing, tf.float64))

        # weight[k]: the product of the gammas of the orders above k (weight[n] = 1).
        weight = [None] * (n + 1)
        weight[n] = tf.ones([rows], tf.float64)
        for k in range(n, 0, -1):
            weight[k - 1] = weight[k] * gathered("gamma", k - 1, ctx[k - 1], 1.0)
        # Order 1 (the root context) is dense over the vocabulary: p1 = num_1 / denom_0.
        den0 = tf.cast(tf.convert_to_tensor(self.denom_0), tf.float64)[0]
        unigram = tf.zeros([V], tf.float64)
        if self.table_sizes[0]:
            num1 = tf.cast(tf.convert_to_tensor(self.num_1), tf.float64)
            unigram = tf.scatter_nd(tf.convert_to_tensor(self.keys_1)[:, None],
                                    tf.math.divide_no_nan(num1, den0), [V])
        p = weight[1][:, None] * unigram[None, :] + weight[0][:, None] / V
        # Orders 2..n: the stored successors of each row's context are one contiguous run of keys.
        idx, val = [], []
        for k in range(2, n + 1):
            if not self.table_sizes[k - 1]:
                continue
            keys = tf.convert_to_tensor(getattr(self, f"keys_{k}"))
            h = ctx[k - 1]                                  # -1 (absent) gives the empty run [0, 0)
            lo = tf.searchsorted(keys, h * V, side="left", out_type=tf.int64)
            hi = tf.searchsorted(keys, h * V + V, side="left", out_type=tf.int64)
            run = tf.ragged.range(lo, hi)
            pos, row = run.flat_values, run.value_rowids()
            hrow = tf.gather(h, row)
            w = tf.gather(keys, pos) - hrow * V
            num = tf.cast(tf.gather(tf.convert_to_tensor(getattr(self, f"num_{k}")), pos), tf.float64)
            den = gathered("denom", k - 1, hrow, 1.0)
            idx.append(tf.stack([row, w], axis=1))
            val.append(tf.gather(weight[k], row) * tf.math.divide_no_nan(num, den))
        if idx:
            p = tf.tensor_scatter_nd_add(p, tf.concat(idx, 0), tf.concat(val, 0))
        return tf.reshape(tf.cast(tf.math.log(p), tf.float32), [R, C, V])

    # -- scoring: the target's probability only ----------------------------------------------
    def score_texts(self, ids, index=None, chunk: int = SCORE_CHUNK):
        """Natural-log probability of each text and its end, from the beginning of text, as
        `generate.score_ids` computes it, by looking up each target's own probability: about
        2n lookups per token and no distribution over the vocabulary, no padding.

        ids: ragged int [B, None] (each text's tokens, without <eos>). index: an `NGramIndex`
        of this model (hash tables: faster), or None (binary search of the key weights).
        Returns (log_prob float32 [B], tokens scored int32 [B] = lengths + 1).

        The texts are laid end to end, each as order-1 <eos> (the beginning of text), its tokens
        and its end <eos>, and scored `chunk` positions at a time (with the order-1 positions
        before the chunk as context: all a window of length n reads), so memory beyond the ids
        themselves is bounded whatever the length of a text. Probabilities in float64, summed
        in float64 per text."""
        self._ensure_built()
        n, V = self.order, self.vocab_size
        find = index.find if index is not None else self._find_or_size
        ids = tf.cast(ids, tf.int64)
        B = ids.nrows()
        lengths = ids.row_lengths()
        seg = lengths + n                                     # n-1 <eos>, the text, its end
        # x: n-1 <eos> (context of the first chunk), then the texts end to end.
        rows = ids.value_rowids()
        offset = tf.cumsum(seg, exclusive=True) + (n - 1) * 2
        where = tf.gather(offset, rows) + tf.range(tf.size(rows, tf.int64)) - tf.gather(ids.row_starts(), rows)
        total = tf.reduce_sum(seg)
        x = tf.scatter_nd(where[:, None], ids.flat_values, tf.reshape(total + n - 1, [1]))
        text_of = tf.repeat(tf.range(B), seg)
        target = tf.range(total) - tf.repeat(offset - (n - 1) * 2, seg) >= n - 1
        # Per order k, tables extended by the entry `size` that stands for "absent": num 0,
        # 1 / denom 0 and gamma 1 (full back-off), as for a context never followed by a target.
        num, inv, gam = [None], [], []
        for k in range(n + 1):
            if k:
                num.append(tf.concat([tf.cast(tf.convert_to_tensor(getattr(self, f"num_{k}")), tf.float64),
                                      tf.zeros([1], tf.float64)], 0))
            if k < n:
                den = tf.cast(tf.convert_to_tensor(getattr(self, f"denom_{k}")), tf.float64)
                inv.append(tf.concat([tf.math.divide_no_nan(tf.ones_like(den), den), tf.zeros([1], tf.float64)], 0))
                gam.append(tf.concat([tf.cast(tf.convert_to_tensor(getattr(self, f"gamma_{k}")), tf.float64),
                                      tf.ones([1], tf.float64)], 0))
        absent = [tf.constant(self.table_sizes[L - 1] if L else 0, tf.int64) for L in range(n + 1)]

        def body(c, acc):
            start = c * chunk
            stop = tf.minimum(start + chunk, total)
            xs = x[start:stop + n - 1]                # n-1 positions of context, then the chunk
            # wid[L]: id of the window of length L ending at each position of xs (the one of
            # length L-1 ending one before, extended by the token); the first L-1 are unknown.
            wid = [tf.zeros_like(xs)]
            for L in range(1, n + 1):
                before = tf.concat([tf.reshape(absent[L - 1], [1]), wid[-1][:-1]], 0)
                wid.append(find(L, before * V + xs))
            p = tf.fill(tf.shape(xs[n - 1:]), tf.constant(1.0 / V, tf.float64))
            for k in range(1, n + 1):
                j = wid[k][n - 1:]
                if k == 1:                            # the empty context: scalars
                    p = tf.gather(num[1], j) * inv[0][0] + gam[0][0] * p
                else:
                    h = wid[k - 1][n - 2:-1]
                    p = tf.gather(num[k], j) * tf.gather(inv[k - 1], h) + tf.gather(gam[k - 1], h) * p
            logp = tf.where(target[start:stop], tf.math.log(p), tf.constant(0.0, tf.float64))
            return c + 1, acc + tf.reshape(tf.math.unsorted_segment_sum(logp, text_of[start:stop], B), tf.shape(acc))

        chunks = (total + chunk - 1) // chunk
        _, log_prob = tf.while_loop(lambda c, acc: c < chunks, body,
                                    (tf.constant(0, tf.int64), tf.zeros([B], tf.float64)))
        return tf.cast(log_prob, tf.float32), tf.cast(lengths + 1, tf.int32)

    def _find_or_size(self, k, q):
        """Ids of the order-k keys `q`, the table's size where absent (`score_texts`)."""
        size = self.table_sizes[k - 1]
        if size == 0:
            return tf.zeros_like(q)
        keys = tf.convert_to_tensor(getattr(self, f"keys_{k}"))
        idx = tf.searchsorted(keys, q, side="left", out_type=tf.int64)
        hit = tf.equal(tf.gather(keys, tf.minimum(idx, size - 1)), q)
        return tf.where(hit, idx, size)

    # -- the LM contract ---------------------------------------------------------------------
    def call(self, ids, training=False):
        ids = tf.cast(ids, tf.int32)
        B, T = tf.shape(ids)[0], tf.shape(ids)[1]
        if self.order == 1:
            unigram = self._next_log_probs(tf.zeros([1, 0], tf.int32))      # [1, 1, V]
            out = tf.broadcast_to(unigram, [B, T, self.vocab_size])
        else:
            # n-2 <eos> before ids: the window of order-1 tokens ending at ids[t] exists for every t.
            x = tf.concat([tf.zeros([B, self.order - 2], tf.int32), ids], axis=1)
            out = self._next_log_probs(x)
        return tf.cast(out, self.compute_dtype)

    def initial_state(self, batch_size):
        return (tf.fill(tf.stack([batch_size, self.order - 1]), tf.constant(EOS, tf.int32)),)

    def step(self, tokens, state):
        """Feed one token per row: (log-probs of the next token [B, V], new state)."""
        self._ensure_built()
        (hist,) = state
        tokens = tf.cast(tokens, tf.int32)
        if self.order == 1:
            new = hist
            out = tf.broadcast_to(self._next_log_probs(tf.zeros([1, 0], tf.int32))[:, 0],
                                  [tf.shape(tokens)[0], self.vocab_size])
        else:
            new = tf.concat([hist[:, 1:], tokens[:, None]], axis=1)
            out = self._next_log_probs(new)[:, 0]
        return tf.cast(out, self.compute_dtype), (new,)

    def get_config(self):
        return {**super().get_config(), "order": self.order, "vocab_size": self.vocab_size,
                "modified": self.modified, "table_sizes": list(self.table_sizes)}


class _KeysToIds(tf.lookup.KeyValueTensorInitializer):
    """Fills a hash table with key -> rank from a key weight, read when the table is initialised
    (at construction, and when a SavedModel is loaded: after its variables are restored), so the
    keys are stored once, as the model's weight, not again as a constant of the graph."""

    def __init__(self, keys):
        self._keys_weight = keys
        super().__init__(tf.zeros([0], tf.int64), tf.zeros([0], tf.int64))

    def initialize(self, table):
        keys = tf.convert_to_tensor(self._keys_weight)
        return tf.raw_ops.LookupTableImportV2(table_handle=table.resource_handle, keys=keys,
                                              values=tf.range(tf.size(keys, out_type=tf.int64)))


class NGramIndex(tf.Module):
    """Hash tables from the keys of a counted `NGramLM` to their ids, one per order, for
    `NGramLM.score_texts(index=...)`: one hash lookup instead of a binary search of the sorted
    keys (~18 dependent, cache-missing reads per key at 10^5 keys; 2-3x slower end to end).
    Filled from the model's key weights (`_KeysToIds`): assign the tables first."""

    def __init__(self, model: NGramLM):
        super().__init__(name="ngram_index")
        model._ensure_built()
        self.tables = [tf.lookup.StaticHashTable(_KeysToIds(getattr(model, f"keys_{k}")),
                                                 default_value=tf.constant(model.table_sizes[k - 1], tf.int64))
                       for k in range(1, model.order + 1)]

    def find(self, k, q):
        """Ids of the order-k keys `q`, the order's table size where absent."""
        return self.tables[k - 1].lookup(q)


def _example(model, batch, rng):
    """Random ids [batch, 7]."""
    return rng.integers(0, model.vocab_size, size=(batch, 7)).astype("int32")


# Counted, not trained: the order and the discounting are all there is to search.
_NGRAM_SPACE = {"model.order": {"min": 2, "max": 12}, "model.modified": {"choice": [False, True]}}
# Word or subword vocabularies: order 5; characters (bytes + <eos>, <unk>): order 10.
register_model("ngram_lm", tune_space=_NGRAM_SPACE, smoke=dict(order=3, vocab_size=16),
               example_input=_example,
               order=5, vocab_size=258)(NGramLM)
register_model("ngram_lm_char", tune_space=_NGRAM_SPACE, smoke=dict(order=4, vocab_size=16),
               example_input=_example,
               order=10, vocab_size=258)(NGramLM)

#!/usr/bin/env python
"""Speed of the text-generation metrics (`zoo/eval/textgen.py`, issue 23) against their peers on
the same input, measured in one run:

- BLEU-4 of 10,000 hypotheses against 10,000 references: the zoo's `bleu` (corpus, and
  sentence_mean with add_epsilon = nltk method1, the number fast-bleu computes) vs fast-bleu's
  `BLEU` (C++, its reference table built inside the timing, as the zoo's is) and nltk's
  `corpus_bleu` (timed on the first `--nltk-subset` hypotheses against all the references and
  extrapolated linearly to all hypotheses: nltk's cost is the same for every hypothesis, since
  each one re-counts every reference);
- leave-one-out self-BLEU-4 of 10,000 samples: the zoo's `self_bleu` vs fast-bleu's `SelfBLEU`
  and nltk looping over samples with the others as references (subset, extrapolated);
- Fréchet distance of two sets of 10,000 embeddings (dim `--fd-dim`): the zoo's eigen-based
  `frechet_distance` vs the usual `scipy.linalg.sqrtm` formula (pytorch-fid's);
- MAUVE of two feature sets (`--mauve-n` each, dim `--mauve-dim`): the zoo's `mauve` (one seed,
  k-means++ best of 5, Lloyd until no label changes) vs mauve-text's `compute_mauve` (faiss
  k-means, best of 5, 500 iterations), both with num_buckets 'auto' and PCA at 0.9.

    python benchmarks/bench_textgen.py            # the full run (a few minutes on 2 cores)
    python benchmarks/bench_textgen.py --quick    # 2,000 sentences, smaller sets (< 1 min)

The sentences are synthetic: lengths uniform in 5..34 tokens, tokens Zipf(1.3)-distributed over
5,000 words, so n-grams repeat as in text. Each workload's implementations are timed round by
round in alternating order (`common.interleaved`), so load changes on a shared machine hit all
alike; ratios are medians of per-round ratios (peer seconds / zoo seconds: above 1, the zoo is
faster). Every compared value is recorded next to the times. Writes
`benchmarks/results/textgen.json` (`textgen_quick.json` with --quick).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def sentences(n: int, seed: int, vocab: int = 5000):
    import numpy as np

    rng = np.random.default_rng(seed)
    lengths = rng.integers(5, 35, n)
    return [[f"w{t}" for t in (rng.zipf(1.3, length) % vocab)] for length in lengths]


def _nltk():
    from nltk.translate import bleu_score

    return bleu_score.corpus_bleu, bleu_score.SmoothingFunction()


def _peer(name):
    try:
        return __import__(name), None
    except Exception as e:  # noqa: BLE001 (a missing or broken peer is reported, not fatal)
        return None, f"{type(e).__name__}: {e}"


def ratios(times: dict, zoo: str) -> dict:
    return {f"{peer}_over_{zoo}": common.median(common.per_round_ratio(t, times[zoo]))
            for peer, t in times.items() if peer != zoo}


def bench_bleu(args, T, fast_bleu, out):
    hyps, refs = sentences(args.n, 1), sentences(args.n, 2)
    corpus_bleu, sf = _nltk()
    sub = hyps[:args.nltk_subset]
    vals = {}

    def zoo_corpus():
        vals["zoo_corpus"] = T.bleu(hyps, refs).value

    def zoo_sentence():
        vals["zoo_sentence_mean_add_epsilon"] = T.bleu(hyps, refs, smoothing="add_epsilon",
                                                       aggregate="sentence_mean").value

    def nltk_subset():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vals["nltk_corpus_subset"] = corpus_bleu([refs] * len(sub), sub,
                                                     smoothing_function=sf.method0)

    fns = {"zoo_corpus": zoo_corpus, "zoo_sentence_mean": zoo_sentence, "nltk_subset": nltk_subset}
    if fast_bleu:
        def fast():
            scores = fast_bleu.BLEU(refs, {4: (0.25,) * 4}, smoothing_func=1).get_score(hyps)[4]
            vals["fast_bleu_mean"] = sum(scores) / len(scores)
        fns["fast_bleu"] = fast
    times = common.interleaved(fns, rounds=args.rounds, warmup=0)
    times["nltk_extrapolated"] = [t * len(hyps) / len(sub) for t in times.pop("nltk_subset")]
    vals["zoo_corpus_subset"] = T.bleu(sub, refs).value
    out["bleu4"] = {
        "hypotheses": len(hyps), "references": len(refs), "nltk_subset_hypotheses": len(sub),
        "times_s": times, "median_s": {k: common.median(v) for k, v in times.items()},
        "ratios_vs_zoo_corpus": ratios({k: v for k, v in times.items() if k != "zoo_sentence_mean"},
                                       "zoo_corpus"),
        "ratios_vs_zoo_sentence_mean": ratios({k: v for k, v in times.items() if k != "zoo_corpus"},
                                              "zoo_sentence_mean"),
        "values": vals,
        "agreement": {
            "zoo_vs_nltk_corpus_on_subset_abs": abs(vals["zoo_corpus_subset"] - vals["nltk_corpus_subset"]),
            **({"zoo_sentence_mean_vs_fast_bleu_mean_abs":
                abs(vals["zoo_sentence_mean_add_epsilon"] - vals["fast_bleu_mean"])} if fast_bleu else {}),
        },
    }


def bench_self_bleu(args, T, fast_bleu, out):
    samples = sentences(args.n, 3)
    corpus_bleu, sf = _nltk()
    idx = range(args.nltk_subset)
    vals = {}

    def zoo_corpus():
        vals["zoo_corpus"] = T.self_bleu(samples).value

    def zoo_sentence():
        vals["zoo_sentence_mean_add_epsilon"] = T.self_bleu(samples, smoothing="add_epsilon",
                                                            aggregate="sentence_mean").value

    def nltk_subset():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vals["nltk_corpus_subset"] = corpus_bleu(
                [samples[:i] + samples[i + 1:] for i in idx], [samples[i] for i in idx],
                smoothing_function=sf.method0)

    fns = {"zoo_corpus": zoo_corpus, "zoo_sentence_mean": zoo_sentence, "nltk_subset": nltk_subset}
    if fast_bleu:
        def fast():
            scores = fast_bleu.SelfBLEU(samples, {4: (0.25,) * 4}).get_score()[4]
            vals["fast_bleu_mean"] = sum(scores) / len(scores)
        fns["fast_bleu"] = fast
    times = common.interleaved(fns, rounds=args.rounds, warmup=0)
    times["nltk_extrapolated"] = [t * len(samples) / len(idx) for t in times.pop("nltk_subset")]
    # The same subset scored by the zoo: the hypotheses of the subset against all others.
    num, den, hl, cl = T._clip_stats(samples, None, 4)
    sub = list(idx)
    zoo_sub, _ = T._corpus_value(num[sub].sum(0), den[sub].sum(0), int(hl[sub].sum()),
                                 int(cl[sub].sum()), "none")
    vals["zoo_corpus_subset"] = zoo_sub
    out["self_bleu4_leave_one_out"] = {
        "samples": len(samples), "nltk_subset_hypotheses": len(sub),
        "times_s": times, "median_s": {k: common.median(v) for k, v in times.items()},
        "ratios_vs_zoo_corpus": ratios({k: v for k, v in times.items() if k != "zoo_sentence_mean"},
                                       "zoo_corpus"),
        "ratios_vs_zoo_sentence_mean": ratios({k: v for k, v in times.items() if k != "zoo_corpus"},
                                              "zoo_sentence_mean"),
        "values": vals,
        "agreement": {
            "zoo_vs_nltk_corpus_on_subset_abs": abs(zoo_sub - vals["nltk_corpus_subset"]),
            **({"zoo_sentence_mean_vs_fast_bleu_mean_abs":
                abs(vals["zoo_sentence_mean_add_epsilon"] - vals["fast_bleu_mean"])} if fast_bleu else {}),
        },
    }


def bench_fd(args, T, out):
    import numpy as np
    import scipy.linalg

    rng = np.random.default_rng(4)
    d = args.fd_dim
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    x = rng.normal(size=(args.n, d)) @ mix
    y = rng.normal(size=(args.n, d)) @ (mix + 0.05 * rng.normal(size=(d, d)) / np.sqrt(d)) + 0.1
    vals = {}

    def zoo():
        vals["zoo"] = T.frechet_distance(x, y).value

    def sqrtm():
        mx, my = x.mean(0), y.mean(0)
        cx, cy = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
        s = scipy.linalg.sqrtm(cx @ cy)
        vals["scipy_sqrtm_imag_max"] = float(np.max(np.abs(np.imag(s))))
        vals["scipy_sqrtm"] = float(np.sum((mx - my) ** 2) + np.trace(cx + cy - 2 * np.real(s)))

    times = common.interleaved({"zoo": zoo, "scipy_sqrtm": sqrtm}, rounds=args.rounds, warmup=0)
    out["frechet_distance"] = {
        "n": args.n, "dim": d, "times_s": times, "median_s": {k: common.median(v) for k, v in times.items()},
        "ratios": ratios(times, "zoo"), "values": vals,
        "agreement": {"rel": abs(vals["zoo"] - vals["scipy_sqrtm"]) / vals["scipy_sqrtm"]},
    }


def bench_mauve(args, T, out):
    import numpy as np

    mauve_text, err = _peer("mauve")
    rng = np.random.default_rng(5)
    d = args.mauve_dim
    p = rng.normal(size=(args.mauve_n, d))
    q = rng.normal(size=(args.mauve_n, d)) + 0.1
    vals = {"zoo": [], "mauve_text": []}
    seed = iter(range(1000))

    def zoo():
        vals["zoo"].append(T.mauve(p, q, seeds=(next(seed),)).value)

    fns = {"zoo": zoo}
    if mauve_text:
        tseed = iter(range(1000))

        def theirs():
            vals["mauve_text"].append(mauve_text.compute_mauve(p_features=p, q_features=q,
                                                               seed=next(tseed)).mauve)
        fns["mauve_text"] = theirs
    times = common.interleaved(fns, rounds=args.rounds, warmup=0)
    out["mauve"] = {
        "n_p": args.mauve_n, "n_q": args.mauve_n, "dim": d, "num_buckets": max(2, round(args.mauve_n / 10)),
        "times_s": times, "median_s": {k: common.median(v) for k, v in times.items()},
        "ratios": ratios(times, "zoo"),
        "values_per_round_seed": vals,
        "mean_std": {k: [float(np.mean(v)), float(np.std(v))] for k, v in vals.items() if v},
        **({"mauve_text_unavailable": err} if err else {}),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2,000 sentences, small sets, 2 rounds")
    ap.add_argument("--n", type=int, default=None, help="sentences / embeddings per set (10,000)")
    ap.add_argument("--nltk-subset", type=int, default=None, help="hypotheses nltk scores (20)")
    ap.add_argument("--fd-dim", type=int, default=512)
    ap.add_argument("--mauve-n", type=int, default=None, help="features per set for MAUVE (2,000)")
    ap.add_argument("--mauve-dim", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (3; 2 with --quick)")
    ap.add_argument("--only", nargs="+", choices=["bleu", "self_bleu", "fd", "mauve"], default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    args.n = args.n or (2000 if args.quick else 10000)
    args.nltk_subset = args.nltk_subset or (5 if args.quick else 20)
    args.mauve_n = args.mauve_n or (500 if args.quick else 2000)
    args.rounds = args.rounds or (2 if args.quick else 3)
    out_path = args.out or str(common.RESULTS_DIR / ("textgen_quick.json" if args.quick else "textgen.json"))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    from zoo.eval import textgen as T

    fast_bleu, fast_err = _peer("fast_bleu")
    result = {"benchmark": "textgen", "load_start": os.getloadavg(), "settings": vars(args),
              "fast_bleu": fast_err or "fast-bleu 0.0.90 (pip, built from its sdist)"}
    started = time.time()
    only = set(args.only or ["bleu", "self_bleu", "fd", "mauve"])
    for name, fn in (("bleu", lambda: bench_bleu(args, T, fast_bleu, result)),
                     ("self_bleu", lambda: bench_self_bleu(args, T, fast_bleu, result)),
                     ("fd", lambda: bench_fd(args, T, result)),
                     ("mauve", lambda: bench_mauve(args, T, result))):
        if name in only:
            t = time.time()
            fn()
            print(f"{name}: {time.time() - t:.0f} s", flush=True)
    result["load_end"] = os.getloadavg()
    result["wall_s"] = time.time() - started
    result["machine"] = common.machine_info()
    result["notes"] = (
        "Synthetic Zipf sentences. Times in seconds per call, one per interleaved round; ratios are "
        "medians of per-round peer/zoo ratios (>1: the zoo is faster). nltk's times are for the "
        "first nltk_subset hypotheses against the full reference set, scaled by "
        "(all hypotheses / subset): extrapolated, not measured. fast-bleu scores each hypothesis "
        "with nltk's method1 smoothing and we average its scores, so it is compared with the zoo's "
        "sentence_mean/add_epsilon BLEU (same numbers) as well as with the corpus BLEU. fast-bleu "
        "runs its own worker threads. The machine is shared: see load_start/load_end.")
    rows = []
    for key in ("bleu4", "self_bleu4_leave_one_out", "frechet_distance", "mauve"):
        if key in result:
            for impl, t in result[key]["median_s"].items():
                rows.append({"workload": key, "implementation": impl, "median_s": t})
    print(common.format_table(rows))
    for key in ("bleu4", "self_bleu4_leave_one_out"):
        if key in result:
            print(key, result[key]["ratios_vs_zoo_corpus"], result[key]["ratios_vs_zoo_sentence_mean"],
                  result[key]["agreement"])
    for key in ("frechet_distance", "mauve"):
        if key in result:
            print(key, result[key]["ratios"])
    print(f"wrote {common.atomic_write_json(out_path, result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

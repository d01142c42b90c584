#!/usr/bin/env python
"""Kneser-Ney scoring speed against KenLM (issue 27 item 3), the same model on both sides:

    python benchmarks/bench_kn_kenlm.py              # timing + checks (~3 min; --no-old: ~1 min)
    python benchmarks/bench_kn_kenlm.py --memory     # + `zoo score` of a 1 MB line (~1.5 min more)
    python benchmarks/bench_kn_kenlm.py --tf-threads 1 --no-old --out benchmarks/results/kn_kenlm_1thread.json

The peer is the `kenlm` Python module (not a dependency of the zoo; `pip install kenlm`, or the
`bench` extra: `pip install -e .[bench]`; it compiles with the system's C++ compiler).

Model: the lm/char_ngram recipe (interpolated Kneser-Ney, order 5, characters) counted on the
training stream of the Wikipedia extract; the stream scored is that recipe's test split without
its `max_test_tokens` cap: 18 documents, 468,712 tokens (each document's characters and its end).
KenLM loads the zoo's own tables written as an ARPA file (`NGramTables.write_arpa`); its
log10 probabilities of every token of the stream are checked against the zoo's before timing.

Timed in interleaved rounds (`common.interleaved`, order reversed every other round), tokens/s
= 468,712 / seconds:
  kenlm          `kenlm.Model.score(text, bos=False, eos=False)` of each document written as
                 words: n-1 <eos> (the zoo's beginning of text), the characters, <eos> (the
                 n-1 context words are also scored, 72 words in all, not counted)
  numpy          `NGramTables.score_stream` of the whole stream (float64, vectorised numpy)
  savedmodel     the `score` signature of the zoo's SavedModel (`LMServing`, loaded with
                 `tf.saved_model.load`) on the 18 documents as strings, one call: tokenizer,
                 then `NGramLM.score_texts` with hash tables (`NGramIndex`)
  savedmodel_old the same signature as before issue 27 (`score_ids`: every position's full
                 distribution over the vocabulary, texts padded), in the calls `LMClient.score`
                 makes under that path's limit (`--no-old` leaves it out: ~9 s a round)
  and, as a profile of `savedmodel`, its parts in tf.functions: `tokenizer` (`tf_encode` of the
  18 strings) and `score_texts` (ids in, no tokenizer), plus `score_texts_bsearch` (binary
  search of the key weights instead of the hash tables).
`--memory`: trains the recipe with `Trainer` and exports it (`export_run`), then runs
`zoo score <export> <file>` on a file of one 1 MB line and on a file of one short line, each in
its own process: peak RSS (ru_maxrss from wait4) of each and the difference; the 1 MB line's
log-probability is checked against `score_stream` through `LMClient.score` in this process.
Writes benchmarks/results/kn_kenlm.json (`--out` for another file).
"""
from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _load():
    from zoo.config import load_recipe
    from zoo.registry import create_task

    task = create_task(load_recipe("lm/char_ngram", ["task.max_test_tokens=null"]))
    task.load_data()
    return task


_LAUNCHER = """import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
sys.stdout.write(r.stdout)
print("MAXRSS_KB", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(r.returncode)
"""


def _memory(task, tmp: Path) -> dict:
    """`zoo score` of one 1 MB line vs one short line, each in its own process."""
    import numpy as np

    from zoo.export import export_run, open_export
    from zoo.config import load_recipe
    from zoo.training.trainer import Trainer

    run, out = tmp / "run", tmp / "export"
    config = load_recipe("lm/char_ngram", [f"runtime.run_dir={run}", "task.max_test_tokens=null",
                                           "trainer.text_samples=0"])
    Trainer(config, log=lambda *a, **k: None).fit()
    export_run(run, out)
    text = " ".join(" ".join(d.split()) for d in task.test_docs)
    text = (text * (1 + (1 << 20) // len(text)))[: 1 << 20]      # 2^20 characters, ~1 MB of UTF-8
    files = {"short": tmp / "short.txt", "1MB": tmp / "line.txt"}
    files["short"].write_text("The object is returned.\n", encoding="utf-8")
    files["1MB"].write_text(text + "\n", encoding="utf-8")
    result = {}
    for name, f in files.items():
        start = time.time()
        # Through a small launcher: Linux carries a process's RSS high-water mark over fork and
        # exec, so a child of this (large) process would report this process's peak.
        p = subprocess.run([sys.executable, "-c", _LAUNCHER, sys.executable, "-m", "zoo_env", "score",
                            str(out), str(f)], cwd=ROOT, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"zoo score {f} failed (exit {p.returncode}): {p.stderr[-500:]}")
        lines = p.stdout.strip().splitlines()
        result[name] = {"peak_rss_mb": int(lines[-1].split()[1]) / 1024, "seconds": round(time.time() - start, 2),
                        "last_line": lines[-2]}
    client = open_export(out)
    got = float(client.score(text)["log_prob"])
    ids = np.concatenate([[0], task.tokenizer.encode_array(text), [0]])
    want = float(task.tables.score_stream(ids).sum())
    chars = len(text) + 1
    result.update(above_short_line_mb=result["1MB"]["peak_rss_mb"] - result["short"]["peak_rss_mb"],
                  line_bytes=len(text.encode("utf-8")),
                  bits_per_char={"savedmodel": -got / math.log(2) / chars, "numpy": -want / math.log(2) / chars},
                  bits_per_char_abs_diff=abs(got - want) / math.log(2) / chars)
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--no-old", action="store_true", help="leave out the pre-issue-27 score signature")
    p.add_argument("--memory", action="store_true", help="also `zoo score` of a 1 MB line (peak RSS)")
    p.add_argument("--tf-threads", type=int, default=0,
                   help="TensorFlow's intra- and inter-op threads (default 0: TensorFlow's own, all cores)")
    p.add_argument("--out", default=str(common.RESULTS_DIR / "kn_kenlm.json"))
    args = p.parse_args(argv)
    try:
        import kenlm
    except ImportError:
        sys.exit("bench_kn_kenlm: the peer is missing: pip install kenlm (or pip install -e .[bench])")
    import importlib.metadata

    import numpy as np
    import tensorflow as tf

    if args.tf_threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.tf_threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.tf_threads)
    from zoo.models.lm.export import LMServing, _score_batches, max_score_tokens
    from zoo.models.lm.ngram import NGramLM

    start_time, load_before = time.time(), [round(v, 2) for v in os.getloadavg()]
    task = _load()
    tables, tok = task.tables, task.tokenizer
    n, V = tables.order, tables.vocab_size
    docs = task.test_docs
    stream = task.stream("test")[0]
    tokens = len(stream) - 1
    doc_ids = [tok.encode_array(d) for d in docs]
    assert sum(len(d) + 1 for d in doc_ids) == tokens
    model = NGramLM(order=n, vocab_size=V, table_sizes=tables.sizes)
    model.assign_tables(tables)
    tmp = Path(tempfile.mkdtemp(prefix="bench_kn_kenlm_"))

    # -- the same model in KenLM ------------------------------------------------------------
    words = ["<eos>", "<unk>"] + [str(i) for i in range(2, V)]
    arpa = tmp / "zoo.arpa"
    tables.write_arpa(arpa, words)
    lm = kenlm.Model(str(arpa))
    text = " ".join([words[0]] * (n - 1) + [words[i] for i in stream])
    ken = np.array([s[0] for s in lm.full_scores(text, bos=False, eos=False)])[n:]
    zoo10 = tables.score_stream(stream) / math.log(10)
    kenlm_check = {"max_abs_log10_diff": float(np.abs(ken - zoo10).max()),
                   "total_log10": {"kenlm": float(ken.sum()), "zoo": float(zoo10.sum())}}
    if kenlm_check["max_abs_log10_diff"] > 1e-4:
        raise RuntimeError(f"KenLM's probabilities of the zoo's ARPA differ: {kenlm_check}")
    doc_texts = [" ".join([words[0]] * (n - 1) + [words[i] for i in d] + [words[0]]) for d in doc_ids]

    # -- the SavedModels ---------------------------------------------------------------------
    def saved(module, name):
        tf.saved_model.save(module, str(tmp / name), signatures={"score": module.score})
        return tf.saved_model.load(str(tmp / name)).signatures["score"]

    new_sig = saved(LMServing(model, tok), "new")
    texts = tf.constant(docs)
    new_out = new_sig(texts=texts)
    want = np.array([tables.score_stream(np.concatenate([[0], d, [0]])).sum() for d in doc_ids])
    chars = new_out["characters"].numpy()
    bpc = lambda lp: -np.asarray(lp, np.float64) / math.log(2) / chars  # noqa: E731
    checks = {"kenlm": kenlm_check,
              "savedmodel_vs_numpy_max_abs_bits_per_char": float(np.abs(bpc(new_out["log_prob"]) - bpc(want)).max()),
              "savedmodel_tokens": int(new_out["tokens"].numpy().sum())}
    fns = {"kenlm": lambda: sum(lm.score(t, bos=False, eos=False) for t in doc_texts),
           "numpy": lambda: tables.score_stream(stream),
           "savedmodel": lambda: new_sig(texts=texts)["log_prob"].numpy()}
    if not args.no_old:
        old = LMServing(model, tok)
        old.index, old.max_score_tokens = None, max_score_tokens(V)     # the path before issue 27
        old_sig = saved(old, "old")
        batches = _score_batches(docs, 64, old.max_score_tokens)
        calls = [tf.constant([docs[i] for i in b]) for b in batches]

        def run_old():
            out = np.zeros(len(docs))
            for b, c in zip(batches, calls):
                out[b] = old_sig(texts=c)["log_prob"].numpy()
            return out

        checks["old_vs_savedmodel_max_abs_bits_per_char"] = float(
            np.abs(bpc(run_old()) - bpc(new_out["log_prob"])).max())
        fns["savedmodel_old"] = run_old
    # The profile: the signature's two parts, and the binary-search variant.
    from zoo.models.lm.ngram import NGramIndex

    index = NGramIndex(model)
    encode = tf.function(lambda t: tok.tf_encode(t))
    ragged = encode(texts)
    score_hash = tf.function(lambda r: model.score_texts(r, index)[0])
    score_bsearch = tf.function(lambda r: model.score_texts(r)[0])
    fns.update(tokenizer=lambda: encode(texts).flat_values.numpy(),
               score_texts=lambda: score_hash(ragged).numpy(),
               score_texts_bsearch=lambda: score_bsearch(ragged).numpy())
    for fn in fns.values():
        fn()                                                     # trace / warm up
    load_rounds = [round(v, 2) for v in os.getloadavg()]
    print(f"load before the rounds: {load_rounds}")
    times = common.interleaved(fns, rounds=args.rounds, warmup=0)
    load_after_rounds = [round(v, 2) for v in os.getloadavg()]
    tps = {k: [tokens / s for s in v] for k, v in times.items()}
    ratio = {k: common.spread(common.per_round_ratio(times[k], times["kenlm"])) for k in times if k != "kenlm"}
    rows = [{"what": k, "tokens/s median": common.median(v), "min": min(v), "max": max(v),
             "ms median": 1000 * common.median(times[k]),
             "x kenlm time median": ratio[k]["median"] if k in ratio else None,
             "x min": ratio[k]["min"] if k in ratio else None, "x max": ratio[k]["max"] if k in ratio else None}
            for k, v in tps.items()]
    print(common.format_table(rows))
    print(f"checks: {checks}")
    print(f"load after the rounds: {load_after_rounds}")
    result = {"what": "Kneser-Ney order-5 scoring, characters, lm/char_ngram test split uncapped "
                      f"({len(docs)} documents, {tokens} tokens): tokens per second",
              "tokens": tokens, "documents": len(docs), "order": n, "vocab_size": V, "table_sizes": tables.sizes,
              "kenlm_version": importlib.metadata.version("kenlm"),
              "kenlm_call": "Model.score(text, bos=False, eos=False) per document",
              "threads": {"tensorflow": args.tf_threads or f"TensorFlow's defaults ({os.cpu_count()} cores)",
                          "kenlm": 1, "numpy": 1},
              "tokens_per_second": {k: {**common.spread(v), "rounds": v} for k, v in tps.items()},
              "seconds": {k: v for k, v in times.items()}, "time_ratio_to_kenlm": ratio, "checks": checks,
              "rounds": args.rounds, "load_before": load_before, "load_rounds_start": load_rounds,
              "load_rounds_end": load_after_rounds}
    if args.memory:
        result["memory"] = _memory(task, tmp)
        print(f"zoo score, peak RSS: {result['memory']}")
    shutil.rmtree(tmp, ignore_errors=True)
    result.update(load_after=[round(v, 2) for v in os.getloadavg()], seconds=round(time.time() - start_time, 1),
                  machine=common.machine_info(),
                  command=" ".join(["python benchmarks/bench_kn_kenlm.py", *sys.argv[1:]]))
    out = common.atomic_write_json(args.out, result)
    print(f"-> {out}")


if __name__ == "__main__":
    main()

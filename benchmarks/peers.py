#!/usr/bin/env python
"""The zoo against the tools a user would pick instead: one table, `benchmarks/peers.md`.

    python benchmarks/peers.py          # the table from the results already in benchmarks/results/
    python benchmarks/peers.py --run    # first re-run every peer benchmark (about 20 minutes), then the table

Each row is a ratio of interleaved rounds measured in one run (zoo time / peer time, > 1: the zoo
is slower), the median and the min-max over rounds, with the peer's version, both sides' thread
settings, the machine's load during the rounds, and the command that wrote its JSON. A comparison
whose JSON is missing is listed as not measured, so the table never drops a row silently.

Rows:
- byte RCAE training step vs the PyTorch twin (`../shared/peers/byte_rcae_torch/compare.py`;
  same weights and logits checked there), at the issue's three configurations;
- character-LSTM LM training vs PyTorch `nn.LSTM` (`bench_lstm_fused.py`; same parameter count
  and logits), 2 threads and 1 thread, plain Keras's `LSTM` in the same rounds as a yardstick;
- character-LSTM LM generation through the exported `generate` vs a PyTorch eager loop
  (`bench_lstm_generate.py`; same weights, same greedy tokens), 2 threads and 1 thread;
- Kneser-Ney order-5 scoring through the exported `score` signature vs KenLM's `Model.score`
  (`bench_kn_kenlm.py`), TensorFlow's 2 threads and 1 thread (KenLM is single-threaded).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
REPO = HERE.parent
TWIN = REPO.parent / "shared" / "peers" / "byte_rcae_torch" / "compare.py"

ONE_THREAD = {"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
TWIN_ARGS = ["--configs", "n2:L256:B4,n2:L1024:B1,n8:L256:B4", "--rounds", "7"]
# (JSON under results/, the command that writes it), in the order they run with --run.
RUNS = [
    ("byte_rcae_torch.json", [str(TWIN), *TWIN_ARGS, "--json", "benchmarks/results/byte_rcae_torch.json"]),
    ("byte_rcae_torch_1thread.json", [str(TWIN), *TWIN_ARGS, "--json",
                                      "benchmarks/results/byte_rcae_torch_1thread.json"]),
    ("lstm_fused.json", ["benchmarks/bench_lstm_fused.py", "--rounds", "9", "--steps", "5"]),
    ("lstm_fused_1thread.json", ["benchmarks/bench_lstm_fused.py", "--rounds", "5", "--steps", "3", "--threads", "1"]),
    ("lstm_generate.json", ["benchmarks/bench_lstm_generate.py", "--rounds", "9"]),
    ("lstm_generate_1thread.json", ["benchmarks/bench_lstm_generate.py", "--rounds", "9", "--threads", "1"]),
    ("kn_kenlm.json", ["benchmarks/bench_kn_kenlm.py", "--memory"]),
    ("kn_kenlm_1thread.json", ["benchmarks/bench_kn_kenlm.py", "--tf-threads", "1", "--no-old", "--rounds", "15",
                               "--out", "benchmarks/results/kn_kenlm_1thread.json"]),
]


# Environment of a run (TensorFlow and PyTorch read their thread counts from it at start-up).
ENV = {"byte_rcae_torch_1thread.json": ONE_THREAD}


def _load(name):
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def _spread(s, digits=2):
    return f"{s['median']:.{digits}f} ({s['min']:.{digits}f}–{s['max']:.{digits}f})"


def _ratios(a, b):
    """median, min and max of per-round ratios a_i / b_i."""
    import statistics

    r = [x / y for x, y in zip(a, b)]
    return {"median": statistics.median(r), "min": min(r), "max": max(r)}


def _load_range(values):
    flat = [v for v in values if v is not None]
    return f"{min(flat):.1f}–{max(flat):.1f}" if flat else "?"


def _command(name):
    cmd = dict(RUNS)[name]
    env = "".join(f"{k}={v} " for k, v in ENV.get(name, {}).items())
    return env + "python " + " ".join(c if not c.startswith(str(REPO.parent)) else
                                os.path.relpath(c, REPO) for c in cmd)


def _each(names, what, peer, row):
    """row(doc, name) for each JSON of `names`; a missing one is a "not measured" row."""
    out = []
    for name in names:
        doc = _load(name)
        out += [[what, peer, "not measured", "", "", "", "", "", name]] if doc is None else row(doc, name)
    return out


def byte_rcae_rows():
    threads = {"byte_rcae_torch.json": "both: all {cores} cores", "byte_rcae_torch_1thread.json": "both: 1 ({env})"}
    env = ", ".join(f"{k}={v}" for k, v in ONE_THREAD.items())
    return _each(threads, "byte RCAE training step", "PyTorch twin", lambda doc, name: _byte_rcae_config_rows(
        doc, name, threads[name].format(cores=doc.get("cpu_count"), env=env)))


def _byte_rcae_config_rows(doc, name, threads):
    v = doc["versions"]
    rows = []
    for r in doc["configs"]:
        rows.append([f"byte RCAE training step n={r['n']} L={r['L']} B={r['B']} (s/step)",
                     f"PyTorch {v['torch']} (`compare.py` twin)",
                     f"{threads}; torch {v['torch_threads']} threads, "
                     f"OMP_WAIT_POLICY={v['torch OMP_WAIT_POLICY']}",
                     f"{r['zoo_step_s']['median']:.3f}", f"{r['torch_step_s']['median']:.3f}",
                     _spread(_ratios(r["times_s"]["zoo_step"], r["times_s"]["torch_step"])),
                     f"{100 * r['zoo_fraction_of_fastest_matmul']['median']:.0f}% vs "
                     f"{100 * r['torch_fraction_of_fastest_matmul']['median']:.0f}% of the fastest matmul",
                     _load_range(r["load1"]), name])
    return rows


def lstm_rows():
    def row(doc, name):
        t, tps, rat = doc["torch"], doc["tokens_per_second"], doc["ratios"]
        return [[f"char-LSTM LM training, {doc['threads']} thread{'s' if doc['threads'] > 1 else ''} "
                 f"(tokens/s; ratio of step times)",
                 f"PyTorch {t['torch']} `nn.LSTM`",
                 f"{doc['threads']} each (TF intra-op {doc['tf_intra_op_threads']}; torch "
                 f"OMP_WAIT_POLICY={t['OMP_WAIT_POLICY']})",
                 f"{tps['zoo_fused']['median']:,.0f}", f"{tps['torch']['median']:,.0f}",
                 _spread(rat["zoo_fused_over_torch"]),
                 f"plain Keras LSTM ÷ torch {_spread(rat['keras_over_torch'])}; "
                 f"zoo without the fused kernel ÷ torch {_spread(rat['zoo_loop_over_torch'])}",
                 _load_range(doc.get("load1_per_round") or doc.get("load_before", [])), name]]
    return _each(("lstm_fused.json", "lstm_fused_1thread.json"), "char-LSTM LM training", "PyTorch nn.LSTM", row)


def generate_rows():
    def row(doc, name):
        t, ms, rat = doc["torch"], doc["ms_per_token"], doc["ratios"]
        return [[f"char-LSTM LM generation, {doc['tokens']:,} sampled tokens, batch 1, {doc['threads']} "
                 f"thread{'s' if doc['threads'] > 1 else ''} (ms/token)",
                 f"PyTorch {t['torch']} eager `nn.LSTM` loop",
                 f"{doc['threads']} each (torch OMP_WAIT_POLICY={t['OMP_WAIT_POLICY']})",
                 f"{ms['sm_xla_sample']['median']:.3f}", f"{ms['torch_sample']['median']:.3f}",
                 _spread(rat["sm_xla_sample_over_torch_sample"]),
                 "the exported `generate` (XLA); without XLA ÷ torch "
                 f"{_spread(rat['sm_tf_sample_over_torch_sample'])}; greedy (XLA) ÷ torch "
                 f"{_spread(rat['sm_xla_greedy_over_torch_greedy'])}",
                 _load_range(doc.get("load1_per_round", [])), name]]
    return _each(("lstm_generate.json", "lstm_generate_1thread.json"), "char-LSTM LM generation",
                 "PyTorch eager loop", row)


def kn_rows():
    def row(doc, name):
        tps, th = doc["tokens_per_second"], doc["threads"]
        return [[f"Kneser-Ney order-5 scoring, {doc['tokens']:,} tokens (tokens/s; time ratio)",
                 f"KenLM {doc['kenlm_version']} `Model.score`",
                 f"TF: {th['tensorflow']}; KenLM: {th['kenlm']}",
                 f"{tps['savedmodel']['median']:,.0f}", f"{tps['kenlm']['median']:,.0f}",
                 _spread(doc["time_ratio_to_kenlm"]["savedmodel"]),
                 "through the exported `score` SavedModel signature; goal ≤ 3",
                 _load_range(doc.get("load_rounds_start", []) + doc.get("load_rounds_end", [])), name]]
    return _each(("kn_kenlm.json", "kn_kenlm_1thread.json"), "Kneser-Ney scoring", "KenLM", row)


def render():
    head = ["what", "peer", "threads", "zoo", "peer", "zoo ÷ peer, median (min–max)", "also", "load", "JSON"]
    rows = byte_rcae_rows() + lstm_rows() + generate_rows() + kn_rows()
    lines = ["# The zoo against its peers", "",
             "Written by `python benchmarks/peers.py` from the JSON files in `benchmarks/results/` "
             "(`--run` re-measures them first). Ratios are zoo time ÷ peer time in the same interleaved "
             "rounds (> 1: the zoo is slower); `load` is the 1-minute load average over the rounds: the "
             "machine is shared, so compare ratios, not times, across rows.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    lines += ["", "Commands:", ""] + [f"- `{_command(n)}` → `results/{n}`" for n, _ in RUNS]
    machine = next((d["machine"] for d in (_load(n) for n, _ in RUNS) if d and "machine" in d), None)
    if machine:
        lines += ["", f"Machine: {machine.get('cpu_model')}, {machine.get('cpu_count')} cores, Python "
                      f"{machine.get('python')}, TensorFlow {machine.get('tensorflow')}, Keras {machine.get('keras')}."]
    text = "\n".join(lines) + "\n"
    tmp = HERE / "peers.md.tmp"
    tmp.write_text(text)
    os.replace(tmp, HERE / "peers.md")
    print(text)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", action="store_true", help="re-run every peer benchmark before the table")
    a = p.parse_args(argv)
    if a.run:
        for name, cmd in RUNS:
            print(f"== {name}: python {' '.join(cmd)}", flush=True)
            code = subprocess.call([sys.executable, *cmd], cwd=REPO, env={**os.environ, **ENV.get(name, {})})
            if code:
                print(f"peers: {cmd[0]} exited with {code}; its row keeps the previous JSON", file=sys.stderr)
    render()


if __name__ == "__main__":
    main()

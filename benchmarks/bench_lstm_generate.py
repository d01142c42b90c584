#!/usr/bin/env python
"""Generation ms/token of the char-LSTM LM (issue 27 item 4): the exported SavedModel's `generate`
(XLA-compiled loop, and without XLA: the route before) against a PyTorch eager loop.

    python benchmarks/bench_lstm_generate.py --rounds 7              # threads = cores
    python benchmarks/bench_lstm_generate.py --rounds 7 --threads 1

Model: recipes/lm/char_lstm.yaml's size, as benchmarks/bench_lstm_fused.py (vocabulary 200 from a
character tokenizer fitted on Python's help topics, embedding 64, one LSTM of 256 units, softmax
head), random weights (seed 0), its <eos> logit biased to -30 so that no sample ends early: every
call makes exactly `--tokens` tokens (1,000), batch 1, prompt "The ". Arms:

- `sm_xla_sample` / `sm_xla_greedy`: the SavedModel's `generate` signature (what `zoo generate`
  and `LMClient.generate` call), loaded with `tf.saved_model.load`, temperature 1 with seed 1 /
  top_k 1 (greedy); the export as it is now, its loop compiled by XLA;
- `sm_tf_sample` / `sm_tf_greedy`: the same export with `LMServing(..., xla=False)`: the loop in
  TensorFlow's executor, the route every export took before (with the same sampler);
- `py_xla_greedy`: `generate_ids(method="greedy", xla_capacity=4096)` in a tf.function in this
  process (argmax without top-k's sort);
- `torch_sample` / `torch_greedy`: `nn.Embedding` + `nn.LSTMCell` + `nn.Linear` with the zoo's
  weights (gates i, f, g, o; `bias_hh` zero), a Python loop of `torch.multinomial(softmax)` /
  `argmax` under `torch.inference_mode()`, in a child process of the PyTorch venv
  (bench_lstm_fused's `TorchChild`; `--torch-python`, default `$ZOO_TORCH_VENV/bin/python`),
  timed inside the child.

Checks before timing: the XLA and TensorFlow routes give the same tokens (sampled and greedy,
all `--tokens`); the PyTorch model's greedy tokens equal the zoo's for the first 50 (its logits
along the zoo's greedy path within 1e-4); the SavedModel is loaded in a fresh Python process
(plain `tf.saved_model.load`) and its first and second calls timed: the first pays XLA's
compilation. Timing: each round calls every arm once, order reversed every other round; ms/token
= wall / tokens; ratios are per-round time ratios (zoo ÷ torch > 1: the zoo is slower), median and
min-max. TensorFlow gets `--threads` intra-op threads (the `zoo` command's defaults otherwise,
`zoo_env`), PyTorch `torch.set_num_threads(--threads)` with OMP_WAIT_POLICY=PASSIVE. Writes
benchmarks/results/lstm_generate.json (`--out`).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_lstm_fused as fused  # noqa: E402

PROMPT = "The "
CHECK_TOKENS = 50
LOGIT_TOL = 1e-4


# -- the PyTorch side: `bench_lstm_generate.py --serve-torch` in the torch venv ----------------
def serve_torch():
    """One JSON line per command on stdin: setup, time, quit (no zoo, no TensorFlow here)."""
    sys.dont_write_bytecode = True
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    import numpy as np
    import torch
    from torch import nn

    reply = lambda **m: proto.write(json.dumps(m) + "\n")  # noqa: E731
    for line in sys.stdin:
        msg = json.loads(line)
        if msg["cmd"] == "setup":
            torch.set_num_threads(msg["threads"])
            w = np.load(msg["weights"])
            V, E = w["embedding"].shape
            U = w["recurrent_kernel"].shape[0]
            emb, cell, head = nn.Embedding(V, E), nn.LSTMCell(E, U), nn.Linear(U, V)
            with torch.inference_mode():
                emb.weight.copy_(torch.from_numpy(w["embedding"]))
                cell.weight_ih.copy_(torch.from_numpy(w["kernel"].T))
                cell.weight_hh.copy_(torch.from_numpy(w["recurrent_kernel"].T))
                cell.bias_ih.copy_(torch.from_numpy(w["bias"]))
                cell.bias_hh.zero_()                      # the zoo's LSTM has one bias
                head.weight.copy_(torch.from_numpy(w["head_kernel"].T))
                head.bias.copy_(torch.from_numpy(w["head_bias"]))
            prompt = torch.from_numpy(w["prompt"].astype(np.int64))   # <eos> then the prompt
            gen = torch.Generator().manual_seed(1)

            def generate(n, greedy, record=None):
                with torch.inference_mode():
                    h = c = torch.zeros(1, U)
                    for tok in prompt[:-1]:
                        h, c = cell(emb(tok.view(1)), (h, c))
                    tok, out = prompt[-1:], []
                    for _ in range(n):
                        h, c = cell(emb(tok), (h, c))
                        logits = head(h)
                        if record is not None:
                            record.append(logits)
                        if greedy:
                            tok = logits.argmax(-1)
                        else:
                            tok = torch.multinomial(torch.softmax(logits, -1), 1, generator=gen)[:, 0]
                        out.append(tok)
                    return torch.cat(out)

            # The zoo's greedy path: the logits along it and the tokens torch picks on its own.
            record = []
            ours = generate(msg["tokens"], True, record).numpy()
            zoo_greedy = w["greedy"]
            n = CHECK_TOKENS
            same = int(np.argmax(np.append(ours != zoo_greedy, True)))   # tokens equal before this index
            diff = float(np.abs(torch.cat(record[:n]).numpy() - w["greedy_logits"][:n]).max())
            generate(msg["tokens"], False)
            reply(info={"torch": torch.__version__, "numpy": np.__version__, "threads": torch.get_num_threads(),
                        "interop_threads": torch.get_num_interop_threads(),
                        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
                        "params": sum(p.numel() for m in (emb, cell, head) for p in m.parameters()) - U * 4,
                        "greedy_same_prefix": same, "greedy_logits_max_abs_diff": diff})
        elif msg["cmd"] == "time":
            t = time.perf_counter()
            generate(msg["tokens"], msg["greedy"])
            reply(seconds=time.perf_counter() - t)
        elif msg["cmd"] == "quit":
            reply(bye=True)
            return


_FRESH = """
import sys, time
t = time.perf_counter()
import tensorflow as tf
sig = tf.saved_model.load(sys.argv[1]).signatures["generate"]
load = time.perf_counter() - t
feed = dict(prompt=tf.constant(sys.argv[2]), max_tokens=tf.constant(int(sys.argv[3])), temperature=tf.constant(1.0),
            top_k=tf.constant(0), top_p=tf.constant(1.0), seed=tf.constant(1, tf.int64))
calls = []
for _ in range(3):
    t = time.perf_counter()
    text = sig(**feed)["text"].numpy()
    calls.append(time.perf_counter() - t)
print(repr((load, calls, text)))
"""


def fresh_process(path, tokens, threads):
    """(seconds to import TensorFlow and load, [seconds of the first three calls], text) in a new Python."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_NUM_INTRAOP_THREADS": str(threads)}
    out = subprocess.run([sys.executable, "-c", _FRESH, str(path), PROMPT, str(tokens)], env=env, check=True,
                         capture_output=True, text=True, timeout=600).stdout
    import ast

    return ast.literal_eval(out.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--tokens", type=int, default=1000)
    fused.add_peer_arguments(p)
    a = p.parse_args(argv)
    if a.serve_torch:
        return serve_torch()
    if a.rounds < 1 or a.threads < 1 or not 1 <= a.tokens <= 4096:
        p.error("--rounds and --threads must be positive, --tokens in 1..4096")
    sys.path.insert(0, str(HERE.parent))
    import zoo_env

    zoo_env.apply()
    import common
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    from pydoc_data.topics import topics

    import keras

    import zoo
    from zoo.data.tokenizers import fit_tokenizer
    from zoo.models.lm.export import LMServing
    from zoo.models.lm.generate import generate_ids

    start, load_before = time.time(), [round(v, 2) for v in os.getloadavg()]
    n = a.tokens
    tok = fit_tokenizer("char", list(topics.values()), fused.V)
    keras.utils.set_random_seed(0)
    model = zoo.create_model("lstm_lm", build=True, vocab_size=tok.vocab_size, **fused.RECIPE)
    model.head.bias.assign(tf.tensor_scatter_nd_update(model.head.bias, [[0]], [-30.0]))
    ids = tf.constant([tok.encode(PROMPT)], tf.int32)
    tmp = Path(tempfile.mkdtemp(prefix="bench_lstm_generate_"))
    sigs, export_s = {}, {}
    for route in ("xla", "tf"):
        t = time.perf_counter()
        module = LMServing(model, tok, xla=route == "xla")
        tf.saved_model.save(module, str(tmp / route), signatures={"generate": module.generate})
        export_s[route] = round(time.perf_counter() - t, 2)
        sigs[route] = tf.saved_model.load(str(tmp / route)).signatures["generate"]
    feeds = {kind: dict(prompt=tf.constant(PROMPT), max_tokens=tf.constant(n), temperature=tf.constant(1.0),
                        top_k=tf.constant(0 if kind == "sample" else 1), top_p=tf.constant(1.0),
                        seed=tf.constant(1, tf.int64)) for kind in ("sample", "greedy")}
    py_greedy = tf.function(lambda: generate_ids(model, ids, n, method="greedy", xla_capacity=4096)[0])
    py_sample_tf = tf.function(lambda: generate_ids(model, ids, n, temperature=1.0, seed=(1, 0))[0])
    fns = {f"sm_{route}_{kind}": (lambda s=sigs[route], f=feeds[kind]: s(**f)["text"].numpy())
           for kind in ("sample", "greedy") for route in ("xla", "tf")}
    fns["py_xla_greedy"] = lambda: py_greedy().numpy()
    first_call = {}
    texts = {}
    for name, fn in fns.items():
        t = time.perf_counter()
        texts[name] = fn()
        first_call[name] = round(time.perf_counter() - t, 3)
    greedy_ids = py_greedy().numpy()[0]
    checks = {"xla_equals_tf_sample": bool(texts["sm_xla_sample"] == texts["sm_tf_sample"]),
              "xla_equals_tf_greedy": bool(texts["sm_xla_greedy"] == texts["sm_tf_greedy"]),
              "savedmodel_greedy_equals_generate_ids_greedy":
                  bool(texts["sm_xla_greedy"] == tok.decode(greedy_ids.tolist()).encode()),
              "savedmodel_sample_equals_generate_ids":
                  bool(texts["sm_xla_sample"] == tok.decode(py_sample_tf().numpy()[0].tolist()).encode()),
              "characters": {k: len(v.decode()) for k, v in texts.items() if isinstance(v, bytes)}}
    print(f"same tokens: {checks}", flush=True)
    fresh = fresh_process(tmp / "xla", n, a.threads)
    fresh_tf = fresh_process(tmp / "tf", n, a.threads)
    checks["fresh_process_same_text"] = bool(fresh[2] == texts["sm_xla_sample"] and fresh_tf[2] == fresh[2])
    print(f"fresh process, XLA export: load {fresh[0]:.2f}s, calls {[round(c, 3) for c in fresh[1]]}s; "
          f"without XLA: load {fresh_tf[0]:.2f}s, calls {[round(c, 3) for c in fresh_tf[1]]}s", flush=True)

    torch_info, torch_note, child = None, None, None
    python = Path(a.torch_python or Path(os.environ.get(fused.TORCH_VENV_VAR) or fused.DEFAULT_TORCH_VENV)
                  / "bin" / "python").expanduser()
    if a.no_torch:
        torch_note = "not requested (--no-torch)"
    elif not python.is_file():
        torch_note = f"no PyTorch Python at {python} (--torch-python)"
    if torch_note is None:
        # The zoo's logits along its greedy path: <eos>, the prompt, then the greedy tokens.
        path = np.concatenate([[0], ids.numpy()[0], greedy_ids]).astype("int32")
        logits = model(path[None, :-1], training=False).numpy()[0, len(ids.numpy()[0]):]
        cell = model.rnn1.cell
        with tempfile.TemporaryDirectory(prefix="bench_lstm_generate_w") as wtmp:
            wpath = os.path.join(wtmp, "weights.npz")
            np.savez(wpath, embedding=model.embedding.embeddings.numpy(), kernel=cell.kernel.numpy(),
                     recurrent_kernel=cell.recurrent_kernel.numpy(), bias=cell.bias.numpy(),
                     head_kernel=model.head.kernel.numpy(), head_bias=model.head.bias.numpy(),
                     prompt=path[:1 + ids.shape[1]], greedy=greedy_ids, greedy_logits=logits)
            child = fused.TorchChild(python, a.threads, script=__file__)
            torch_info = child.call("setup", weights=wpath, threads=a.threads, tokens=n)["info"]
        print(f"torch {torch_info['torch']}: greedy tokens equal to the zoo's for the first "
              f"{torch_info['greedy_same_prefix']} of {n}, logits max |diff| over {CHECK_TOKENS} steps "
              f"{torch_info['greedy_logits_max_abs_diff']:.2g}; {torch_info['threads']} threads, "
              f"OMP_WAIT_POLICY={torch_info['OMP_WAIT_POLICY']}", flush=True)
        if not (torch_info["greedy_same_prefix"] >= min(CHECK_TOKENS, n)
                and torch_info["greedy_logits_max_abs_diff"] <= LOGIT_TOL
                and torch_info["params"] == model.count_params()):
            child.close()
            raise RuntimeError(f"the PyTorch model is not the zoo's ({torch_info}, zoo params "
                               f"{model.count_params()}): a ratio would mean nothing")
        fns["torch_sample"] = lambda: child.call("time", tokens=n, greedy=False)["seconds"]
        fns["torch_greedy"] = lambda: child.call("time", tokens=n, greedy=True)["seconds"]
    names, times, load = list(fns), {k: [] for k in fns}, []
    try:
        for r in range(a.rounds):
            for k in (names if r % 2 == 0 else names[::-1]):
                t = time.perf_counter()
                got = fns[k]()
                times[k].append(got if k.startswith("torch") else time.perf_counter() - t)
            load.append(round(os.getloadavg()[0], 2))
            print(f"round {r + 1}/{a.rounds}: " + "  ".join(f"{k} {1000 * times[k][-1] / n:.3f}" for k in names)
                  + f" ms/token  load1 {load[-1]}", flush=True)
    finally:
        if child is not None:
            child.close()
    ms = {k: [1000 * s / n for s in v] for k, v in times.items()}
    pairs = [(f"sm_{r}_{k}", f"torch_{k}") for k in ("sample", "greedy") for r in ("xla", "tf")]
    pairs += [("py_xla_greedy", "torch_greedy"), ("sm_xla_sample", "sm_tf_sample"), ("sm_xla_greedy", "sm_tf_greedy")]
    ratios = {f"{x}_over_{y}": common.spread(common.per_round_ratio(ms[x], ms[y]))
              for x, y in pairs if x in ms and y in ms}
    fmt = lambda s: f"{s['median']:.2f} ({s['min']:.2f}-{s['max']:.2f})"  # noqa: E731
    rows = []
    for k, v in ms.items():
        versus = f"{k}_over_torch_{k.rsplit('_', 1)[1]}"
        rows.append({"arm": k, "ms/token median": round(common.median(v), 4), "min": round(min(v), 4),
                     "max": round(max(v), 4), "÷ torch (time)": fmt(ratios[versus]) if versus in ratios else "-"})
    print(common.format_table(rows))
    for x, y in pairs[-2:]:
        print(f"{x} ÷ {y}: {fmt(ratios[f'{x}_over_{y}'])}")
    print(f"load1 per round {min(load)}-{max(load)}; threads {a.threads}")
    result = {
        "what": f"generation ms/token, char-LSTM LM (V {tok.vocab_size}, embedding {fused.E}, LSTM {fused.U}), "
                f"{n} tokens, batch 1, prompt {PROMPT!r}: SavedModel generate with / without XLA vs PyTorch eager",
        "ratios_note": "time ratios within a round (a over b > 1: a slower), median/min/max over rounds",
        "tokens": n, "rounds": a.rounds, "threads": a.threads, "parameters": int(model.count_params()),
        "ms_per_token": {k: {**common.spread(v), "rounds": v} for k, v in ms.items()}, "ratios": ratios,
        "checks": checks, "first_call_in_process_s": first_call, "export_s": export_s,
        "fresh_process": {"xla": {"load_s": fresh[0], "calls_s": fresh[1]},
                          "tf": {"load_s": fresh_tf[0], "calls_s": fresh_tf[1]}},
        "torch": torch_info or {"skipped": torch_note},
        **common.run_context("bench_lstm_generate.py", argv, start, load_before, load)}
    common.write_result(result, a.out, "lstm_generate", a.threads)


if __name__ == "__main__":
    main()

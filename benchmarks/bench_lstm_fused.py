#!/usr/bin/env python
"""Training speed of the char-LSTM LM (issue 27): the zoo's `lstm_lm` on its fused LSTM route and
on its per-step loop, a plain Keras model and PyTorch `nn.LSTM`, all of one size, in the same rounds.

    python benchmarks/bench_lstm_fused.py --rounds 7             # threads = cores
    python benchmarks/bench_lstm_fused.py --rounds 7 --threads 1 # one thread each

Size (issue 27): vocabulary 200, embedding 64, one LSTM layer of 256 units, softmax head; batch 32
windows of 100 random ids; one Adam (1e-3) step = forward, mean cross-entropy, backward, update.
Arms:

- `zoo_fused`: `zoo.create_model("lstm_lm", ...)` as recipes/lm/char_lstm.yaml makes it (units
  256, embedding 64, no recurrent dropout, Keras's initialisers), its `DropoutRNN` taking the
  fused `BlockLSTMV2` route (checked in the traced graph);
- `zoo_loop`: the same model with `fused=False` on its recurrent layer: the per-step loop;
- `keras`: Embedding 64 -> `keras.layers.LSTM(256, return_sequences=True)` -> Dense 200;
- `torch`: `nn.Embedding` -> `nn.LSTM(64, 256, batch_first=True)` -> `nn.Linear`, in a child
  process of the PyTorch venv (`--torch-python`, default `$ZOO_TORCH_VENV/bin/python`,
  `$ZOO_TORCH_VENV` defaulting to ~/.cache/zoo-peers/torch-venv; set it up with
  `python3.11 -m venv ~/.cache/zoo-peers/torch-venv && ~/.cache/zoo-peers/torch-venv/bin/pip
  install torch==2.13.0 numpy`). It loads the zoo model's weights (same gate order i, f, g, o;
  `bias_hh` zero and frozen, so the trainable parameter count is the zoo's) and its logits must
  match the zoo's to 1e-4 before anything is timed. `OMP_WAIT_POLICY=PASSIVE` unless set.

Threads: TensorFlow's intra-op pool and `torch.set_num_threads` both get `--threads` (default:
the machine's cores); TensorFlow runs with the `zoo` command's defaults (`zoo_env`: oneDNN on).
Each round times `--steps` steps of every arm, one arm at a time, order reversed every other
round; tokens/s = 3,200 x steps / seconds; every ratio is a time ratio taken within a round
(zoo ÷ torch > 1: the zoo is slower), then median and min-max over rounds. The load average is
recorded before, after and per round. Writes benchmarks/results/lstm_fused.json
(lstm_fused_1thread.json with --threads 1; --out for another file).
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
V, E, U, B, T = 200, 64, 256, 32, 100
LR = 1e-3
LOGIT_TOL = 1e-4
# recipes/lm/char_lstm.yaml's model: the registered lstm_lm's recurrent dropout off (the plain LM)
RECIPE = dict(units=U, embedding_dim=E, recurrent_dropout=0.0, scheme="none", init_scale=None)
DEFAULT_TORCH_VENV = Path("~/.cache/zoo-peers/torch-venv")
TORCH_VENV_VAR = "ZOO_TORCH_VENV"


def batch(np):
    rng = np.random.default_rng(0)
    return rng.integers(0, V, (B, T)).astype("int32"), rng.integers(0, V, (B, T)).astype("int32")


# -- the PyTorch side: `bench_lstm_fused.py --serve-torch` in the torch venv -------------------
def serve_torch():
    """One JSON line per command on stdin: setup, time, quit (no zoo, no TensorFlow here)."""
    sys.dont_write_bytecode = True
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)   # whatever the libraries print goes to stderr, not into the protocol
    sys.stdout = sys.stderr
    import numpy as np
    import torch
    from torch import nn

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(V, E)
            self.lstm = nn.LSTM(E, U, batch_first=True)
            self.head = nn.Linear(U, V)

        def forward(self, ids):
            return self.head(self.lstm(self.embedding(ids))[0])

    reply = lambda **m: proto.write(json.dumps(m) + "\n")  # noqa: E731
    step = None
    for line in sys.stdin:
        msg = json.loads(line)
        if msg["cmd"] == "setup":
            torch.set_num_threads(msg["threads"])
            w = np.load(msg["weights"])
            model = LM()
            with torch.no_grad():
                model.embedding.weight.copy_(torch.from_numpy(w["embedding"]))
                model.lstm.weight_ih_l0.copy_(torch.from_numpy(w["kernel"].T))
                model.lstm.weight_hh_l0.copy_(torch.from_numpy(w["recurrent_kernel"].T))
                model.lstm.bias_ih_l0.copy_(torch.from_numpy(w["bias"]))
                model.lstm.bias_hh_l0.zero_()
                model.head.weight.copy_(torch.from_numpy(w["head_kernel"].T))
                model.head.bias.copy_(torch.from_numpy(w["head_bias"]))
            model.lstm.bias_hh_l0.requires_grad_(False)   # the zoo's LSTM has one bias
            x, y = (torch.from_numpy(w[k].astype(np.int64)) for k in ("x", "y"))
            with torch.no_grad():
                diff = float((model(x) - torch.from_numpy(w["logits"])).abs().max())
            params = [p for p in model.parameters() if p.requires_grad]
            opt = torch.optim.Adam(params, lr=LR)
            loss_fn = nn.CrossEntropyLoss()

            def step():
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(x).reshape(-1, V), y.reshape(-1))
                loss.backward()
                opt.step()
                return loss.item()

            step()
            step()
            reply(info={"torch": torch.__version__, "numpy": np.__version__, "threads": torch.get_num_threads(),
                        "interop_threads": torch.get_num_interop_threads(),
                        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
                        "mkldnn": torch.backends.mkldnn.is_available(),
                        "trainable_params": sum(p.numel() for p in params),
                        "all_params": sum(p.numel() for p in model.parameters()), "logits_max_abs_diff": diff})
        elif msg["cmd"] == "time":
            t = time.perf_counter()
            for _ in range(msg["steps"]):
                step()
            reply(seconds=time.perf_counter() - t)
        elif msg["cmd"] == "quit":
            reply(bye=True)
            return


class TorchChild:
    """A PyTorch child speaking one JSON line per command; `script`'s `--serve-torch` serves it
    (default: this file's)."""

    def __init__(self, python, threads, script=None):
        env = dict(os.environ)
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # OpenMP workers spinning on a busy machine
        env.setdefault("OMP_NUM_THREADS", str(threads))
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([str(python), str(Path(script or __file__).resolve()), "--serve-torch"], env=env,
                                     text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log)

    def call(self, cmd, **kw):
        self.proc.stdin.write(json.dumps({"cmd": cmd, **kw}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            self.log.seek(0)
            raise RuntimeError(f"the torch process stopped (exit {self.proc.returncode}):\n{self.log.read()[-3000:]}")
        return json.loads(line)

    def close(self):
        if self.proc.poll() is None:
            try:
                self.call("quit")
                self.proc.wait(timeout=30)
            except (RuntimeError, OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# -- the zoo side ----------------------------------------------------------------------------
def keras_step(model, x, y):
    """() -> loss: one Adam step of `model` on the fixed batch (x, y); `.step` is the tf.function."""
    import common
    import keras

    step = common.lm_train_step(model, keras.optimizers.Adam(LR))

    def run():
        return step(x, y)

    run.step, run.batch = step, (x, y)
    return run


def graph_ops(run):
    """Op types in a traced step, its nested functions (loop bodies, gradients) included."""
    graph = run.step.get_concrete_function(*run.batch).graph
    types = {op.type for op in graph.get_operations()}
    for fn in graph._functions.values():
        types |= {node.op for node in fn.cached_definition.node_def}
    return types


def add_peer_arguments(p):
    """The options every benchmark with a PyTorch child shares (threads, torch's Python, output)."""
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="threads of TensorFlow and PyTorch")
    p.add_argument("--torch-python", help=f"a Python with torch and numpy (default ${TORCH_VENV_VAR}/bin/python, "
                                          f"${TORCH_VENV_VAR} defaulting to {DEFAULT_TORCH_VENV})")
    p.add_argument("--no-torch", action="store_true", help="time the TensorFlow arms only")
    p.add_argument("--out")
    p.add_argument("--serve-torch", action="store_true", help=argparse.SUPPRESS)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--steps", type=int, default=3, help="steps per arm per round")
    add_peer_arguments(p)
    a = p.parse_args(argv)
    if a.serve_torch:
        return serve_torch()
    if a.rounds < 1 or a.steps < 1 or a.threads < 1:
        p.error("--rounds, --steps and --threads must be positive")
    sys.path.insert(0, str(HERE.parent))
    sys.path.insert(0, str(HERE))
    import zoo_env

    zoo_env.apply()   # the `zoo` command's TensorFlow defaults (oneDNN on), before TensorFlow loads
    import common
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    import keras

    import zoo

    start, load_before = time.time(), [round(v, 2) for v in os.getloadavg()]
    xn, yn = batch(np)
    x, y = tf.constant(xn), tf.constant(yn)
    steps, params, models = {}, {}, {}
    for arm in ("zoo_fused", "zoo_loop"):
        keras.utils.set_random_seed(0)
        model = zoo.create_model("lstm_lm", build=True, vocab_size=V, **RECIPE)
        model.rnn1.fused = arm == "zoo_fused"
        models[arm], steps[arm], params[arm] = model, keras_step(model, x, y), int(model.count_params())
    keras.utils.set_random_seed(0)
    kmodel = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(V, E),
                               keras.layers.LSTM(U, return_sequences=True), keras.layers.Dense(V)])
    steps["keras"], params["keras"] = keras_step(kmodel, x, y), int(kmodel.count_params())
    routes = {arm: "BlockLSTMV2" in graph_ops(steps[arm]) for arm in steps}
    if routes != {"zoo_fused": True, "zoo_loop": False, "keras": False}:
        raise RuntimeError(f"unexpected routes (BlockLSTMV2 in the step's graph): {routes}")
    for s in steps.values():
        s()   # trace and warm up
    fns = {arm: (lambda s=s: [float(s()) for _ in range(a.steps)]) for arm, s in steps.items()}
    torch_info, torch_note = None, None
    child = None
    python = Path(a.torch_python or Path(os.environ.get(TORCH_VENV_VAR) or DEFAULT_TORCH_VENV) / "bin" / "python")
    python = python.expanduser()
    if a.no_torch:
        torch_note = "not requested (--no-torch)"
    elif not python.is_file():
        torch_note = f"no PyTorch Python at {python} (--torch-python)"
    if torch_note is None:
        z = models["zoo_fused"]
        cell = z.rnn1.cell
        with tempfile.TemporaryDirectory(prefix="bench_lstm_fused_") as tmp:
            wpath = os.path.join(tmp, "weights.npz")
            np.savez(wpath, x=xn, y=yn, embedding=z.embedding.embeddings.numpy(), kernel=cell.kernel.numpy(),
                     recurrent_kernel=cell.recurrent_kernel.numpy(), bias=cell.bias.numpy(),
                     head_kernel=z.head.kernel.numpy(), head_bias=z.head.bias.numpy(),
                     logits=z(x, training=False).numpy())
            child = TorchChild(python, a.threads)
            torch_info = child.call("setup", weights=wpath, threads=a.threads)["info"]
        params["torch"] = torch_info["trainable_params"]
        print(f"torch {torch_info['torch']}: logits max |diff| vs the zoo {torch_info['logits_max_abs_diff']:.2g}; "
              f"{torch_info['threads']} threads, OMP_WAIT_POLICY={torch_info['OMP_WAIT_POLICY']}", flush=True)
        if not (torch_info["logits_max_abs_diff"] <= LOGIT_TOL and params["torch"] == params["zoo_fused"]):
            child.close()
            raise RuntimeError(f"the PyTorch model is not the zoo's (params {params}, logits diff "
                               f"{torch_info['logits_max_abs_diff']}): a ratio would mean nothing")
        fns["torch"] = lambda: child.call("time", steps=a.steps)["seconds"]
    print(f"parameters: {params}", flush=True)
    names, times, load = list(fns), {n: [] for n in fns}, []
    try:
        for r in range(a.rounds):
            for n in (names if r % 2 == 0 else names[::-1]):
                t = time.perf_counter()
                got = fns[n]()
                times[n].append(got if n == "torch" else time.perf_counter() - t)
            load.append(round(os.getloadavg()[0], 2))
            print(f"round {r + 1}/{a.rounds}: " + "  ".join(f"{n} {times[n][-1]:.2f}s" for n in names)
                  + f"  load1 {load[-1]}", flush=True)
    finally:
        if child is not None:
            child.close()
    tokens = B * T * a.steps
    tps = {n: [tokens / s for s in v] for n, v in times.items()}
    pairs = [("zoo_fused", "torch"), ("zoo_loop", "torch"), ("keras", "torch"), ("zoo_fused", "zoo_loop"),
             ("zoo_fused", "keras")]
    ratios = {f"{p_}_over_{q}": common.spread(common.per_round_ratio(times[p_], times[q]))
              for p_, q in pairs if p_ in times and q in times}
    fmt = lambda s: f"{s['median']:.2f} ({s['min']:.2f}-{s['max']:.2f})"  # noqa: E731
    rows = [{"arm": n, "parameters": params[n], "tokens/s median": round(common.median(v)),
             "min": round(min(v)), "max": round(max(v)),
             "÷ torch (time)": fmt(ratios[f"{n}_over_torch"]) if f"{n}_over_torch" in ratios else "-"}
            for n, v in tps.items()]
    print(common.format_table(rows))
    print(f"fused ÷ loop (time): {fmt(ratios['zoo_fused_over_zoo_loop'])}; load1 per round {min(load)}-{max(load)}; "
          f"threads {a.threads}")
    result = {
        "what": "training tokens/s of the char-LSTM LM (V 200, embedding 64, LSTM 256, batch 32 x 100, Adam 1e-3, "
                "mean cross-entropy): zoo lstm_lm fused / loop, plain Keras, PyTorch nn.LSTM; interleaved rounds",
        "ratios_note": "time ratios within a round (a over b > 1: a slower), median/min/max over rounds",
        "parameters": params, "routes_BlockLSTMV2_in_graph": routes, "threads": a.threads,
        "steps_per_round": a.steps, "rounds": a.rounds,
        "tokens_per_second": {n: {**common.spread(v), "rounds": v} for n, v in tps.items()},
        "ratios": ratios, "torch": torch_info or {"skipped": torch_note},
        **common.run_context("bench_lstm_fused.py", argv, start, load_before, load)}
    common.write_result(result, a.out, "lstm_fused", a.threads)


if __name__ == "__main__":
    main()

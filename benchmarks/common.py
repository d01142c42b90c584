"""Shared helpers for the zoo's benchmark scripts (`benchmarks/bench_<family>.py`).

Nothing here imports TensorFlow at module level, so a parent process can import this module,
set environment knobs such as TF_ENABLE_ONEDNN_OPTS, and start children that import TensorFlow
under those knobs (`run_child`). What the helpers give:

- timing: `median`, `time_call` (median wall time of repeated calls), `interleaved` (several
  functions timed round by round in alternating order, so a load change on a shared machine hits
  all of them alike and their ratios stay fair), `spread` (median / quartiles / min / max);
- same-run compute references: `matmul_reference` (FLOP/s of a dense float32 matmul in a
  tf.function) and `numpy_matmul_reference` (the same product with numpy's BLAS), the
  yardsticks for "achieved FLOP/s as a fraction of matmul" (take the faster of the two);
- memory: `peak_rss_mb` (the process's resident-set high-water mark from getrusage);
- output: `atomic_write_json` (temp file + rename), `format_table`, `machine_info`;
- processes: `run_child` (run this script again in `--child` mode with extra environment and read
  back the JSON the child wrote) and `run_lockstep` (several such children alive at once, e.g.
  one per value of an environment knob, whose timed rounds the parent runs one child at a time
  in alternating order, so even settings that need separate processes are compared at the same
  moments of a shared machine's load; the child side is `LockstepServer`).
"""
from __future__ import annotations

import json
import os
import platform
import queue
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

RESULTS_DIR = Path(__file__).resolve().parent / "results"


# -- timing ----------------------------------------------------------------------------------
def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def spread(values: Sequence[float]) -> dict:
    """Median, quartiles, min, max and count of a list of measurements."""
    v = sorted(float(x) for x in values)
    if not v:
        raise ValueError("spread of no values")
    q = statistics.quantiles(v, n=4, method="inclusive") if len(v) > 1 else [v[0]] * 3
    return {"median": float(statistics.median(v)), "q1": q[0], "q3": q[2], "min": v[0],
            "max": v[-1], "n": len(v)}


def time_call(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> list[float]:
    """Wall seconds of `repeats` calls of `fn` after `warmup` untimed calls.

    `fn` must block until its work is done (e.g. end with `.numpy()` or `float(...)`).
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def interleaved(fns: Mapping[str, Callable[[], object]], rounds: int, warmup: int = 1,
                inner: int | Mapping[str, int] = 1) -> dict[str, list[float]]:
    """Time several functions round by round: {name: [seconds per call, one per round]}.

    Each round calls every function once (or takes the median of `inner` calls; `inner` may be
    a {name: count} mapping so a short function gets several calls per round), forwards on even
    rounds and backwards on odd ones, so slow drift of a shared machine's load hits every
    function alike and per-round ratios compare like with like.
    """
    names = list(fns)
    counts = {name: (inner.get(name, 1) if isinstance(inner, Mapping) else inner) for name in names}
    for name in names:
        for _ in range(warmup):
            fns[name]()
    out: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            out[name].append(median(time_call(fns[name], repeats=counts[name], warmup=0)))
    return out


def per_round_ratio(num: Sequence[float], den: Sequence[float]) -> list[float]:
    return [a / b for a, b in zip(num, den)]


# -- compute reference -----------------------------------------------------------------------
def matmul_reference(size: int = 2048):
    """(fn, flops): a tf.function float32 `size`x`size` matmul whose call blocks until done,
    and its FLOP count 2*size^3. Time it with `time_call`/`interleaved` in the same process as
    the workload it is the yardstick for (it imports TensorFlow)."""
    import tensorflow as tf

    a = tf.random.stateless_normal([size, size], seed=[1, 2])
    b = tf.random.stateless_normal([size, size], seed=[3, 4])

    @tf.function
    def matmul(x, y):
        # Reduce to a scalar inside the graph so fetching the result costs nothing.
        return tf.reduce_sum(tf.linalg.matmul(x, y)[:1, :1])

    def run():
        return float(matmul(a, b))

    run()  # trace
    return run, 2.0 * size ** 3


def numpy_matmul_reference(size: int = 2048):
    """(fn, flops, info): a float32 `size`x`size` numpy matmul (`a @ b` on preallocated
    arrays, numpy's BLAS with its default threads), its FLOP count 2*size^3, and numpy's version
    and BLAS. The second yardstick next to `matmul_reference`: a framework's own GEMM can be
    slower than the machine's best, and a fraction of a slow matmul overstates a workload.
    OpenBLAS's worker threads keep polling for ~0.1 s after a call: time what follows it only
    after a pause (`LockstepServer.serve(settle=...)`)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size), dtype=np.float32) for _ in range(2))

    def run():
        return float((a @ b)[0, 0])

    run()  # warm up (thread pool start)
    info = {"numpy": np.__version__}
    try:
        deps = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["blas"] = f"{deps.get('name')} {deps.get('version')}".strip()
    except Exception:  # noqa: BLE001 (older numpy: no dict mode)
        pass
    return run, 2.0 * size ** 3, info


# -- memory ----------------------------------------------------------------------------------
def lm_train_step(model, optimizer):
    """A language model's training step as one tf.function of (ids x, next ids y): mean token
    cross-entropy of float32 logits, the gradients, one `optimizer` update; returns the loss."""
    import tensorflow as tf

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            logits = tf.cast(model(x, training=True), tf.float32)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return step


def run_context(script: str, argv, start: float, load_before, load_per_round) -> dict:
    """The fields every peer benchmark's JSON ends with: the loads, the wall time, the machine,
    TensorFlow's intra-op threads, the thread-related environment and the command line."""
    import time

    import tensorflow as tf

    return {"load_before": load_before, "load1_per_round": load_per_round,
            "load_after": [round(v, 2) for v in os.getloadavg()], "seconds": round(time.time() - start, 1),
            "machine": machine_info(), "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "env": {k: os.environ.get(k) for k in ("TF_ENABLE_ONEDNN_OPTS", "OMP_NUM_THREADS", "OMP_WAIT_POLICY")},
            "command": " ".join([f"python benchmarks/{script}", *(argv if argv is not None else sys.argv[1:])])}


def write_result(result: dict, out, stem: str, threads: int) -> Path:
    """`result` to `out`, else results/<stem>.json (<stem>_1thread.json for one thread); prints where."""
    path = Path(out) if out else RESULTS_DIR / (f"{stem}_1thread.json" if threads == 1 else f"{stem}.json")
    atomic_write_json(path, result)
    print(f"-> {path}")
    return path


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB (ru_maxrss: KiB on Linux, bytes on macOS).

    It is a high-water mark over the whole life of the process, so measure each configuration in
    its own process (`run_child`) and read it right after the workload of interest.
    """
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def current_rss_mb() -> float | None:
    """Current resident set size in MiB from /proc (None where there is no /proc)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
    except (OSError, ValueError, IndexError):
        return None


# -- output ----------------------------------------------------------------------------------
def atomic_write_json(path, obj) -> Path:
    """Write JSON next to its destination, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes the file private; results are not
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=True, default=_json_default)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def _json_default(o):
    if hasattr(o, "item"):  # numpy scalars
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def format_table(rows: Sequence[Mapping[str, object]], columns: Sequence[str] | None = None,
                 floatfmt: str = ".3g") -> str:
    """A plain-text table (also valid GitHub markdown) of dict rows."""
    if not rows:
        return "(no rows)"
    columns = list(columns or rows[0].keys())

    def cell(v):
        if v is None:
            return "-"
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, float):
            return format(v, floatfmt)
        return str(v)

    body = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(b[i]) for b in body)) for i, c in enumerate(columns)]
    line = lambda vals: "| " + " | ".join(v.rjust(w) for v, w in zip(vals, widths)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(columns), sep] + [line(b) for b in body])


def machine_info() -> dict:
    """CPU model, core count, load average and library versions (TF only if already imported)."""
    info = {"python": platform.python_version(), "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "processor": platform.processor() or None}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        info["loadavg_1_5_15"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    if "tensorflow" in sys.modules:
        info["tensorflow"] = sys.modules["tensorflow"].__version__
    if "keras" in sys.modules:
        info["keras"] = sys.modules["keras"].__version__
    return info


# -- child processes -------------------------------------------------------------------------
class ChildError(RuntimeError):
    pass


def run_child(script, args: Sequence[str], env: Mapping[str, str] | None = None,
              timeout: float | None = None, quiet: bool = True) -> dict:
    """Run `python script --child <args> --child-out FILE` with extra environment, return the
    JSON it wrote to FILE. The child's stderr is shown only when it fails (or `quiet=False`)."""
    fd, out = tempfile.mkstemp(prefix="bench-child-", suffix=".json")
    os.close(fd)
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
                **(env or {})}
    cmd = [sys.executable, str(script), "--child", *args, "--child-out", out]
    try:
        proc = subprocess.run(cmd, env=full_env, timeout=timeout, text=True,
                              stdout=subprocess.PIPE if quiet else None,
                              stderr=subprocess.PIPE if quiet else None)
        if proc.returncode != 0:
            tail = (proc.stderr or "")[-4000:] if quiet else ""
            raise ChildError(f"child {' '.join(args)} failed with exit code {proc.returncode}\n{tail}")
        with open(out) as f:
            return json.load(f)
    finally:
        try:
            os.unlink(out)
        except OSError:
            pass


# -- lock-step children ----------------------------------------------------------------------
_MARK = "@@bench "


class LockstepServer:
    """Child side of `run_lockstep`: announce readiness, then serve timed rounds on request.

        server = LockstepServer()
        server.ready({"setup_s": ...})            # after building and warming up
        times = server.serve({"step": step, "matmul": mm}, inner={"matmul": 3})
        ...                                       # untimed extra work (exports, profiling)
        server.result(final_dict)

    Messages go to stdout as single `@@bench <tag> <json>` lines; commands come on stdin.
    """

    def __init__(self):
        self._out = sys.stdout

    def _send(self, tag, obj):
        self._out.write(f"{_MARK}{tag} {json.dumps(obj, default=_json_default)}\n")
        self._out.flush()

    def ready(self, info: Mapping | None = None):
        self._send("ready", dict(info or {}))

    def serve(self, fns: Mapping[str, Callable[[], object]],
              inner: int | Mapping[str, int] = 1,
              settle: Mapping[str, float] | None = None) -> dict[str, list[float]]:
        """Run one round of `fns` per "round" command until "done"; return all round times.

        `settle` {name: seconds}: an untimed pause after that function's calls in each round,
        for work that leaves threads busy after it returns (OpenBLAS's workers poll for ~0.1 s
        after a numpy matmul), so that they do not slow whatever is timed next, here or in
        another lock-step child."""
        names = list(fns)
        counts = {n: (inner.get(n, 1) if isinstance(inner, Mapping) else inner) for n in names}
        settle = dict(settle or {})
        times: dict[str, list[float]] = {n: [] for n in names}
        r = 0
        while True:
            cmd = sys.stdin.readline().strip()
            if cmd in ("done", ""):
                return times
            if cmd != "round":
                raise ValueError(f"unknown lock-step command {cmd!r}")
            this = {}
            for n in (names if r % 2 == 0 else names[::-1]):
                this[n] = median(time_call(fns[n], repeats=counts[n], warmup=0))
                times[n].append(this[n])
                if settle.get(n):
                    time.sleep(settle[n])
            r += 1
            self._send("round", this)

    def result(self, obj: Mapping):
        self._send("result", dict(obj))


class _LockstepClient:
    def __init__(self, name, script, args, env):
        self.name = name
        self.stderr = tempfile.TemporaryFile(mode="w+")
        full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
                    **(env or {})}
        self.proc = subprocess.Popen([sys.executable, str(script), "--child", *args], env=full_env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, text=True, bufsize=1)
        # A reader thread, so that waiting for a message can time out.
        self.lines: queue.Queue = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            if line.startswith(_MARK):
                self.lines.put(line)
        self.lines.put(None)  # end of output

    def expect(self, tag, timeout: float | None = None):
        """The payload of the child's next message, which must be `tag`; TimeoutError if none
        comes within `timeout` seconds, ChildError if the child exits first."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"child {self.name!r} sent no {tag!r} within {timeout:.0f} s") from None
        if line is None:
            self.proc.wait()
            self.stderr.seek(0)
            tail = self.stderr.read()[-4000:]
            raise ChildError(f"child {self.name!r} exited (code {self.proc.returncode}) "
                             f"before sending {tag!r}\n{tail}")
        got, _, payload = line[len(_MARK):].partition(" ")
        if got != tag:
            raise ChildError(f"child {self.name!r} sent {got!r}, expected {tag!r}")
        return json.loads(payload)

    def send(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()


def run_lockstep(script, children: Mapping[str, tuple[Sequence[str], Mapping[str, str]]],
                 rounds: int, log: Callable[[str], None] | None = None,
                 ready_timeouts: Mapping[str, float] | None = None) -> dict[str, dict]:
    """Start every child (`python script --child <args>` with extra env) at once; when all are
    ready, run `rounds` rounds, each asking one child at a time (in alternating order) to time
    its functions once; then let them finish, one at a time. Returns {name: {"ready": ...,
    "times_s": {fn: [per round]}, "result": ...}}. Setup runs concurrently; only the rounds are
    timed. A child named in `ready_timeouts` that is not ready within its time (counted from the
    start) is killed before any round runs and comes back as {"dropped": reason, "setup_s": ...};
    every other child must get ready."""
    start = time.time()
    clients = {name: _LockstepClient(name, script, args, env) for name, (args, env) in children.items()}
    out = {name: {"times_s": {}} for name in clients}
    ready_timeouts = dict(ready_timeouts or {})
    try:
        for name in sorted(clients, key=lambda n: ready_timeouts.get(n, float("inf"))):
            limit = ready_timeouts.get(name)
            try:
                out[name]["ready"] = clients[name].expect(
                    "ready", None if limit is None else max(0.0, limit - (time.time() - start)))
            except TimeoutError:
                clients.pop(name).close()
                out[name] = {"dropped": f"not ready within {limit:.0f} s (killed)", "setup_s": limit}
                if log:
                    log(f"{name}: not ready within {limit:.0f} s, dropped")
        order = list(clients)
        for r in range(rounds):
            for name in (order if r % 2 == 0 else order[::-1]):
                clients[name].send("round")
                for fn, t in clients[name].expect("round").items():
                    out[name]["times_s"].setdefault(fn, []).append(t)
            if log:
                log(f"round {r + 1}/{rounds} done")
        for name, c in clients.items():
            c.send("done")
            out[name]["result"] = c.expect("result")
            c.proc.wait()
    finally:
        for c in clients.values():
            c.close()
    return out

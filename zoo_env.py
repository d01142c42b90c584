"""TensorFlow process defaults for the zoo's command line, and for applications that opt in.

`import zoo` changes nothing in its host process. The `zoo` command (whose entry point is
`main` here) and the benchmarks run with:

    TF_ENABLE_ONEDNN_OPTS=1   oneDNN kernels: on the 2-core AVX2 CPU the zoo is developed on,
                              roughly half the step time of TensorFlow's default (Eigen) for the
                              byte autoencoder and the LSTMs (see the README's speed tables)
    TF_CPP_MIN_LOG_LEVEL=3    oneDNN's fusion of a dense layer, its residual sum and ReLU makes
                              grappler log a spurious "empty op name" error per trace; Python
                              errors still raise

Both must be set before TensorFlow is first imported, which is why this module lives outside
the `zoo` package (importing `zoo` imports TensorFlow). An application opts in with

    import zoo_env; zoo_env.apply()     # first thing, before importing tensorflow or zoo

or by setting the variables itself; variables already set are left as they are.

TensorFlow's C++ side writes a few lines while it loads, before its logging reads
TF_CPP_MIN_LOG_LEVEL (absl's "All log messages before absl::InitializeLog()", the oneDNN notice,
"Could not find cuda drivers", ...), six on every `zoo` command. `quiet_startup()` drops exactly
those (`STARTUP_NOISE`) from file descriptor 2 while TensorFlow is imported and passes every other
byte on unchanged, through a forked child that outlives a crash of the import: an abort's message
still reaches the terminal. The `zoo` command imports TensorFlow inside it.
"""
from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import warnings

DEFAULTS = {"TF_ENABLE_ONEDNN_OPTS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}

# What TensorFlow 2.21 writes on stderr while it loads (each a line's beginning): notices, not
# errors a user can act on. `[IWE]0000 <time> <thread> <file>:<line>]` is absl's line prefix.
_ABSL = rb"[IWE]\d{4} [\d:.]+ +\d+ "
STARTUP_NOISE = re.compile(
    rb"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$"
    rb"|" + _ABSL + rb"(?:port\.cc:\d+\] oneDNN custom operations are on\."
    rb"|cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine"
    rb"|cuda_platform\.cc:\d+\] failed call to cuInit: "
    rb"|cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized to use available CPU"
    rb"|\w+\.cc:\d+\] Unable to register cu\w+ factory"
    rb"|\w+\.cc:\d+\] TF-TRT Warning: Could not find TensorRT)"
    rb"|To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags")


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def _forward(read_fd: int, write_fd: int) -> None:
    """Copy `read_fd` to `write_fd` until EOF, line by line, dropping `STARTUP_NOISE` lines."""
    rest = b""
    while chunk := os.read(read_fd, 65536):
        *lines, rest = (rest + chunk).split(b"\n")
        _write_all(write_fd, b"".join(line + b"\n" for line in lines if not STARTUP_NOISE.match(line)))
    if rest and not STARTUP_NOISE.match(rest):
        _write_all(write_fd, rest)  # a last line without its newline (e.g. before an abort)


@contextlib.contextmanager
def quiet_startup():
    """Drop TensorFlow's start-up notices (`STARTUP_NOISE`) from stderr inside the block.

    File descriptor 2 (where C++ writes) goes into a pipe read by a forked child that writes
    every other line to the real stderr, so nothing else is lost or reordered, even when the
    process dies in the block. Without fork, or with TF_CPP_MIN_LOG_LEVEL=0 (the user asked for
    TensorFlow's notices), the block runs as it is."""
    if (not hasattr(os, "fork") or "tensorflow" in sys.modules  # (loaded: nothing left to filter)
            or os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") in ("", "0")):
        yield
        return
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    read_fd, write_fd = os.pipe()
    child = os.fork()
    if child == 0:  # the forwarder: ends at EOF, i.e. when the block is over or the parent died
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
            os.close(write_fd)
            _forward(read_fd, 2)
        finally:
            os._exit(0)
    os.close(read_fd)
    saved = os.dup(2)
    os.dup2(write_fd, 2)
    os.close(write_fd)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last writer is gone: the child reads EOF and ends
        os.close(saved)
        os.waitpid(child, 0)  # its lines come before anything written after the block


def apply(defaults: dict[str, str] | None = None) -> dict[str, str]:
    """Set each default that is not set yet; returns the values now in the environment.

    Warns when TensorFlow is already imported, because the settings then have no effect."""
    values = DEFAULTS if defaults is None else defaults
    if "tensorflow" in sys.modules:
        warnings.warn("zoo_env.apply() was called after TensorFlow was imported; TF_ENABLE_ONEDNN_OPTS "
                      "and TF_CPP_MIN_LOG_LEVEL only take effect before it", RuntimeWarning, stacklevel=2)
    for key, value in values.items():
        os.environ.setdefault(key, value)
    return {key: os.environ[key] for key in values}


def main(argv=None) -> int:
    """The `zoo` command: apply the defaults, then run `zoo.cli`."""
    apply()
    # Importing TensorFlow takes seconds in which Ctrl-C may land, and some imported code catches
    # every exception (KeyboardInterrupt included) and carries on: remember the signal itself.
    interrupted = []

    def on_sigint(signum, frame):
        interrupted.append(signum)
        raise KeyboardInterrupt

    import threading

    main_thread = threading.current_thread() is threading.main_thread()  # signal.signal needs it
    previous = signal.signal(signal.SIGINT, on_sigint) if main_thread else None
    try:
        with quiet_startup():
            import tensorflow  # noqa: F401  (here, under the filter: zoo.cli imports it lazily)
        from zoo.cli import main as run
    except KeyboardInterrupt:
        interrupted.append(signal.SIGINT)
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, previous)
    if interrupted:
        print("zoo: interrupted", file=sys.stderr)
        return 130  # 128 + SIGINT, as zoo.cli.main returns it
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())

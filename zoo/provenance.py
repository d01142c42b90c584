"""What a run was computed with, written into its metrics.json under `provenance`.

A run reproduces bit for bit only on the same code, library versions and processor kernels: the
same recipe and seed trains to other numbers where oneDNN's kernels differ (it dispatches on the
instruction set: AVX-512 vs AVX2) and with op determinism on or off. This records those inputs, so
two runs that disagree can be told apart from a bug: the zoo's commit (`git describe` of the
checkout the package is imported from, else the installed version), TensorFlow/Keras/NumPy/Python
versions, the CPU model and its instruction sets, the cores and kernel settings TensorFlow runs
with, and whether op determinism was on.
"""
from __future__ import annotations

import functools
import os
import platform
import subprocess
from pathlib import Path

# Environment variables that change which kernels run (and so the low bits of every result).
KERNEL_SETTINGS = ("TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA", "TF_NUM_INTRAOP_THREADS",
                   "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")


def zoo_commit() -> str:
    """`git describe --always --dirty` of the checkout holding the imported `zoo` package, or
    "zoo <version>" when the package is not inside its own git checkout (an installed wheel)."""
    from zoo.version import __version__

    root = Path(__file__).resolve().parent.parent
    try:
        top = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, timeout=30)
        # Only the package's own checkout: a wheel installed inside some other repository is not it.
        if top.returncode == 0 and Path(top.stdout.strip()).resolve() == root:
            out = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty", "--tags"],
                                 capture_output=True, text=True, timeout=30)
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return f"zoo {__version__}"


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """The processor's model name (/proc/cpuinfo), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.split(":", 1)[0].strip() == "model name":
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# The instruction sets oneDNN dispatches on (its AVX-512 and AVX2 kernels give other numbers).
ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> list[str]:
    """Which of `ISA_FLAGS` the processor has (/proc/cpuinfo; empty where it cannot be read)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.split(":", 1)[0].strip() == "flags":
                have = set(line.split(":", 1)[1].split())
                return [f for f in ISA_FLAGS if f in have]
    except OSError:
        pass
    return []


def provenance() -> dict:
    """The versions, processor and kernel settings of this process (a JSON-able dict)."""
    import keras
    import numpy as np
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count()
    return {
        "zoo": zoo_commit(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cpu_cores": cores,
        "op_determinism": bool(tf_config.is_op_determinism_enabled()),
        "kernel_settings": {k: os.environ[k] for k in KERNEL_SETTINGS if k in os.environ},
    }

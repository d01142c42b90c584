"""Test session setup: two logical CPU devices, so MirroredStrategy trains two real replicas; the
slow tier behind `--runslow`; one smoke run per family shared by the whole session.

Layout: tests/core/ tests the platform (on the smallest model that exercises it), tests/<family>/
mirrors zoo/models/<family>/. The tests sit here rather than beside each family (as keras-hub
keeps them) because every test process needs this conftest to split the CPU before TensorFlow
runs any op, and because tests do not belong in the installed wheel.
"""
import contextlib
import fcntl
import io
import json
import os
import shutil
from pathlib import Path
from typing import NamedTuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Must happen before any TensorFlow op runs in this process.
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2)
tf.get_logger().setLevel("ERROR")

import zoo  # noqa: E402,F401  (registers every model)


# -- tiers -------------------------------------------------------------------------------------
def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true",
                     help="also run the slow tier (tests marked slow); .ci/run runs it after the default tier")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow tier: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


# -- one smoke run per family, shared by the session --------------------------------------------
class SmokeRun(NamedTuple):
    run: Path        # the run folder (`zoo train --run-dir`)
    export: Path     # its export (`zoo train --export`)
    metrics: dict    # the run's metrics.json


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on `path` between the processes of one session (pytest-xdist workers)."""
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """`smoke_run(family)`: the family's default task trained on its smoke recipe by `zoo train
    --export`, once per session: under pytest-xdist each worker runs session fixtures itself, so
    the first worker to ask trains under a file lock in the directory all workers share and the
    others read what it left (pytest-xdist's documented pattern). Its data cache is deleted after
    training, so whatever reads the run reads what the run folder holds. Tests must not write
    into it: copy the run or the export first (shutil.copytree) to change it."""
    from zoo.cli import main

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    root = shared / "smoke_runs"
    root.mkdir(exist_ok=True)

    def get(family: str) -> SmokeRun:
        fam = zoo.family(family)
        run, export = root / fam.name / "run", root / fam.name / "export"
        with _locked(root / f"{fam.name}.lock"):
            if not (export / "manifest.json").is_file():
                recipe = zoo.task_entry(fam.default_task).smoke_recipe
                log = io.StringIO()   # not into the output of the test that asked first
                with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(log), \
                        contextlib.redirect_stderr(log):
                    mp.setenv("ZOO_CACHE", str(root / fam.name / "cache"))
                    code = main(["train", recipe, "--run-dir", str(run), "--export", str(export)])
                assert code == 0, f"zoo train {recipe} failed:\n{log.getvalue()[-3000:]}"
                # What the tests read must come from the run folder: no cache left behind.
                shutil.rmtree(root / fam.name / "cache", ignore_errors=True)
        return SmokeRun(run, export, json.loads((run / "metrics.json").read_text()))

    return get

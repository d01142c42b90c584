"""The README's main job as a fresh clone runs it: `zoo train byte_rcae/default --export ...` in a
fresh process reaches the test byte error the README states (slow tier: 6-10 minutes on 2 cores)."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_figure():
    """The README's main-job figure in percent: one value, or the range over machines (low, high)."""
    text = README.read_text(encoding="utf-8")
    m = re.search(r"test byte\s+error it reaches \(([\d.]+)%(?:\s*[–-]\s*([\d.]+)%)?", text)
    assert m, "README.md no longer states the main job's test byte error"
    low = float(m.group(1))
    return low, float(m.group(2) or low)


# Slow tier; default tier: the main job in miniature (tests/core/test_cli.py::
# test_main_job_train_export_reconstruct_eval) on the session's byte_rcae smoke run.
@pytest.mark.slow
def test_the_main_job_reaches_the_readme_figure(tmp_path):
    low, high = readme_figure()
    run, export = tmp_path / "run", tmp_path / "exported" / "byte_rcae_default"
    proc = subprocess.run([sys.executable, "-m", "zoo_env", "train", "byte_rcae/default", "--run-dir", str(run),
                           "--export", str(export)], capture_output=True, text=True, timeout=3600,
                          env={**os.environ, "ZOO_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (export / "manifest.json").is_file()
    error = 100 * json.loads((run / "metrics.json").read_text())["byte_error"]
    # The README rounds to 0.1 points.
    assert low - 0.05 <= error < high + 0.05, f"the main job reached {error:.2f}%, the README says {low}-{high}%"

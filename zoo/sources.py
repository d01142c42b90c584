"""What `zoo eval` reads and writes: a run directory or an export directory as (recipe, model,
folder), and its test-split metrics plus the task's analyses in `metrics.json`.

It sits above both the export core (it reads exports) and the evaluation loop (it evaluates),
so that neither of those imports the other.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo.eval.loop import evaluate
from zoo.io import atomic_write_json


def load_source(path):
    """(config, model, folder) of a run directory or an export directory."""
    from zoo.config import RecipeError, load_recipe
    from zoo.export.exporter import MANIFEST, load_keras_model, read_manifest
    from zoo.runs import KERAS_FILE, RunError, is_run_dir, load_run

    p = Path(path)
    if (p / MANIFEST).is_file() and (p / KERAS_FILE).is_file():
        manifest = read_manifest(p)
        try:
            config = load_recipe(manifest["recipe"])
        except (KeyError, RecipeError) as e:
            raise RunError(f"export {str(p)!r} has an unusable recipe in {MANIFEST}: {e}") from None
        return config, load_keras_model(p), p
    if not p.exists():
        raise RunError(f"no such run or export directory: {str(p)!r}")
    if not is_run_dir(p):
        raise RunError(f"{str(p)!r} is neither a run directory (recipe.yaml) nor an export "
                       f"({MANIFEST} + {KERAS_FILE})")
    config, model = load_run(p)
    return config, model, p


def evaluate_source(path, out_dir=None, overrides: list[str] | None = None) -> dict[str, Any]:
    """`zoo eval`: the test-split metrics of a run or an export and its task's analyses, written
    to `<out_dir>/metrics.json` (default `<path>/eval`).

    The task is restored from the folder's artifacts (no corpus needed); with `data.*`
    overrides (another corpus) it reads that corpus instead. It evaluates on one device."""
    from zoo.runs import prepare_task

    config, model, folder = load_source(path)
    overrides = list(overrides or [])
    if overrides:
        config = config.with_overrides(overrides)
    reads_other_data = any(o.split("=", 1)[0].strip().startswith("data.") for o in overrides)
    task = prepare_task(config, None if reads_other_data else folder)
    out = Path(out_dir) if out_dir is not None else Path(folder) / "eval"
    metrics: dict[str, Any] = evaluate(task, model)
    metrics.update(task.analyze(model, out))
    atomic_write_json(out / "metrics.json", metrics)
    return json.loads(json.dumps(metrics, sort_keys=True, default=str))

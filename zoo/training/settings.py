"""What a run is trained with, as `zoo report` keys its runs."""
from __future__ import annotations

from zoo.config import ExperimentConfig

# Settings added after runs were keyed, with the value that trains as before: left out of the
# key at that value, so the runs of earlier versions keep their keys.
_ADDED_LATER = {("trainer", "lr_decay_start_epochs"): None, ("trainer", "optimizer_args"): {},
                ("tune", "goal"): ""}


def run_settings(config: ExperimentConfig) -> dict:
    """What a run is trained with: the resolved recipe without its name, description, folder and
    progress bar (none of them changes what is trained). `zoo report` keys its runs by it."""
    d = config.to_dict()
    d.pop("name", None)
    d.pop("description", None)
    d["runtime"] = {k: v for k, v in d["runtime"].items() if k not in ("run_dir", "progress")}
    for (section, key), default in _ADDED_LATER.items():
        if key in d.get(section, {}) and d[section][key] == default:
            del d[section][key]
    return d

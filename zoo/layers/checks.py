"""Checks of layer and model arguments shared by the families, one wording each, so a bad value
reads the same from every model: "units must be a positive integer, got 0"."""
from __future__ import annotations


def check_positive_int(name: str, value, *, allow_none: bool = False):
    """`value` if it is an integer >= 1 (or None where `allow_none`); ValueError naming `name`."""
    if value is None and allow_none:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def check_rate(name: str, rate) -> float:
    """A dropout rate in [0, 1) as a float; ValueError naming `name`."""
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0.0 <= rate < 1.0:
        raise ValueError(f"{name} must be a number in [0, 1), got {rate!r}")
    return float(rate)


def check_depth(depth, num_layers: int) -> int:
    """How many layers of a stack of `num_layers` to run: `depth` (an integer in 1..num_layers),
    or all of them for None. The stacked recurrent models serve every depth with one head."""
    if depth is None:
        return num_layers
    if not isinstance(depth, int) or isinstance(depth, bool) or not 1 <= depth <= num_layers:
        raise ValueError(f"depth must be an integer in 1..{num_layers}, got {depth!r}")
    return depth

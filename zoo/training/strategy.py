"""One factory for tf.distribute strategies (Model Garden style: the recipe names a string).

- "auto" (default): MultiWorkerMirroredStrategy when TF_CONFIG describes a cluster of several
  workers, else MirroredStrategy over every local device.
- "mirrored": MirroredStrategy over every local GPU, or over every logical CPU when there is no
  GPU (`runtime.logical_cpus` splits one CPU into several, so two replicas really train).
- "multi_worker": MultiWorkerMirroredStrategy from TF_CONFIG.
- "one_device": OneDeviceStrategy on the first device (debugging).
"""
from __future__ import annotations

import json
import os

STRATEGIES = ("auto", "mirrored", "multi_worker", "one_device")


def cluster_workers() -> int:
    try:
        tf_config = json.loads(os.environ.get("TF_CONFIG", "") or "{}")
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON: {e}") from None
    return len(tf_config.get("cluster", {}).get("worker", []))


def configure_devices(logical_cpus: int | None) -> None:
    """Split the CPU into logical devices; must run before any TensorFlow op."""
    import tensorflow as tf

    if not logical_cpus or logical_cpus <= 1:
        return
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration()] * logical_cpus)
    except RuntimeError:
        # Already initialised (a second trainer in the same process): keep what is there.
        if len(tf.config.list_logical_devices("CPU")) != logical_cpus:
            raise RuntimeError(
                f"cannot split the CPU into {logical_cpus} devices after TensorFlow has started; "
                f"it already has {len(tf.config.list_logical_devices('CPU'))}") from None


def make_strategy(name: str = "auto", logical_cpus: int | None = None):
    import tensorflow as tf

    if name not in STRATEGIES:
        raise ValueError(f"unknown runtime.strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    if name == "auto":
        name = "multi_worker" if cluster_workers() > 1 else "mirrored"
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    configure_devices(logical_cpus)
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(devices[0])
    return tf.distribute.MirroredStrategy(devices, cross_device_ops=(
        tf.distribute.ReductionToOneDevice() if not gpus else None))


def is_chief(strategy) -> bool:
    """Only the chief writes summaries, the final model and metrics (worker 0 in TF_CONFIG)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0
                                              and "chief" not in resolver.cluster_spec().as_dict())


def worker_id(strategy) -> int:
    resolver = getattr(strategy, "cluster_resolver", None)
    return 0 if resolver is None or resolver.task_id is None else int(resolver.task_id)

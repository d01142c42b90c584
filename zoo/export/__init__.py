"""The zoo's one exporter: `export_run(run_dir, out_dir)` writes `model.keras`, one SavedModel
per endpoint set of the model's family, and `manifest.json`; clients read the manifest.

Importing this package registers every family's export hook.
"""
from zoo.export.exporter import (
    ExportError,
    SavedModelSpec,
    describe_signature,
    export_model,
    export_run,
    family_exporter,
    read_manifest,
    register_family_exporter,
    registered_families,
)
from zoo.export import byte_autoencoder  # noqa: E402,F401  (registers the byte_autoencoder hook)
from zoo.export import slicenet  # noqa: E402,F401  (registers the slicenet hook)
from zoo.export import recurrent  # noqa: E402,F401  (registers the recurrent hook)
from zoo.export.client import ByteAutoencoderClient  # noqa: E402

__all__ = [
    "ByteAutoencoderClient",
    "ExportError",
    "SavedModelSpec",
    "describe_signature",
    "export_model",
    "export_run",
    "family_exporter",
    "read_manifest",
    "register_family_exporter",
    "registered_families",
]

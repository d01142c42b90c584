"""The zoo's one exporter core: `export_run(run_dir, out_dir)` writes `model.keras`, the
SavedModels the model's family asks for, the run's artifacts and `manifest.json`;
`open_export(path)` reads one back with the family's client (see `ExportClient`)."""
from zoo.export.client import ExportClient, open_export
from zoo.export.exporter import (
    ExportError,
    SavedModelSpec,
    ServingModule,
    checked_input,
    describe_signature,
    export_model,
    export_run,
    load_keras_model,
    read_manifest,
    select_served,
)

__all__ = [
    "ExportClient",
    "ExportError",
    "SavedModelSpec",
    "ServingModule",
    "checked_input",
    "describe_signature",
    "export_model",
    "export_run",
    "load_keras_model",
    "open_export",
    "read_manifest",
    "select_served",
]

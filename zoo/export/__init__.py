"""The zoo's one exporter core: `export_run(run_dir, out_dir)` writes `model.keras`, the
SavedModels the model's family asks for, the run's artifacts and `manifest.json`;
`open_export(path)` reads one back with the family's client (see `ExportClient`), whose
capabilities (`zoo.export.contracts`) say what the export serves."""
from zoo.export.client import ExportClient, as_texts, open_export, texts_in
from zoo.export.contracts import (
    Attender,
    Capability,
    Classifier,
    PairScorer,
    Predictor,
    Reconstructor,
    TextEncoder,
    TextGenerator,
    TextScorer,
    Translator,
    capabilities,
    require,
)
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
    "Attender",
    "Capability",
    "Classifier",
    "ExportClient",
    "ExportError",
    "PairScorer",
    "Predictor",
    "Reconstructor",
    "SavedModelSpec",
    "ServingModule",
    "TextEncoder",
    "TextGenerator",
    "TextScorer",
    "Translator",
    "as_texts",
    "capabilities",
    "checked_input",
    "describe_signature",
    "export_model",
    "export_run",
    "load_keras_model",
    "open_export",
    "read_manifest",
    "require",
    "select_served",
    "texts_in",
]

"""The byte autoencoder's verb of the `zoo` command line: `zoo reconstruct TEXT [--model DIR]`."""
from __future__ import annotations

import sys
from pathlib import Path

DEFAULT_EXPORT = "exported/byte_rcae_default"


def reconstruct_text(path, text: str) -> str:
    """Auto-encode `text` with an export (through its SavedModels) or a run (its Keras model)."""
    from zoo.export.exporter import MANIFEST

    p = Path(path)
    if (p / MANIFEST).is_file():
        from zoo.models.byte_rcae.client import ByteAutoencoderClient

        out = ByteAutoencoderClient(p).reconstruct(text)
        return out if isinstance(out, str) else out.decode("utf-8", errors="replace")
    import numpy as np

    from zoo.data.errors import ZooDataError
    from zoo.eval.loop import load_source
    from zoo.models.byte_rcae.data import decode_bytes, encode_batch, fit_paragraphs, padded_length, to_text

    _, model, _ = load_source(p)
    data = text.encode("utf-8")
    if padded_length(len(data)) > model.max_length:
        raise ZooDataError(f"text is {len(data)} bytes; this model reads at most "
                           f"{model.max_length - 1} bytes (plus the end-of-sequence byte)")
    data = fit_paragraphs([data], model.max_length, "reject")[0] if data.strip() else data
    ids = encode_batch([data], length=model.fixed_length)
    return to_text(decode_bytes(np.argmax(model(ids, training=False), -1)[0]))


def cmd_reconstruct(args):
    text = args.text if args.text is not None else sys.stdin.read()
    print(reconstruct_text(args.model, text))


def add_commands(sub) -> None:
    s = sub.add_parser("reconstruct", help="auto-encode a text with a byte autoencoder and print it")
    s.add_argument("text", nargs="?", help="the text (default: read stdin)")
    s.add_argument("--model", default=DEFAULT_EXPORT, help=f"export or run directory (default: {DEFAULT_EXPORT})")
    s.set_defaults(fn=cmd_reconstruct)

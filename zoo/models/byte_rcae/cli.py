"""The byte autoencoder's verb of the `zoo` command line:
`zoo reconstruct [TEXT | --file PATH] [--model DIR]`.

The model reads bytes, not text, so the verb takes any bytes: TEXT as the shell passed it
(arguments that are not valid UTF-8 reach Python surrogate-escaped; `os.fsencode` gives back
the exact bytes), `--file PATH` read raw, or stdin read raw. The reconstruction is written to
stdout as raw bytes followed by a newline, so it round-trips byte for byte (pipe it into a
file or `xxd`); nothing is decoded, so undecodable bytes cannot crash the output.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

DEFAULT_EXPORT = "exported/byte_rcae_default"


def reconstruct_bytes(path, data: bytes | str) -> bytes:
    """Auto-encode a paragraph with an export (through its SavedModels) or a run (its Keras model)."""
    from zoo.export.exporter import MANIFEST
    from zoo.models.byte_rcae.client import ByteAutoencoderClient

    data = ByteAutoencoderClient._as_bytes(data)  # rejects NUL (the EOS byte) for both sources
    p = Path(path)
    if (p / MANIFEST).is_file():
        return ByteAutoencoderClient(p).reconstruct_bytes(data)
    import numpy as np

    from zoo.data.errors import ZooDataError
    from zoo.sources import load_source
    from zoo.models.byte_rcae.data import decode_bytes, encode_batch, padded_length

    _, model, _ = load_source(p)
    if padded_length(len(data)) > model.max_length:
        raise ZooDataError(f"text is {len(data)} bytes; this model reads at most "
                           f"{model.max_length - 1} bytes (plus the end-of-sequence byte)")
    ids = encode_batch([data], length=model.fixed_length)
    return decode_bytes(np.argmax(model(ids, training=False), -1)[0])


def read_input(args) -> bytes:
    """The paragraph's bytes from TEXT, --file or stdin, exactly as given."""
    from zoo.data.errors import ZooDataError

    if args.text is not None and args.file is not None:
        raise ZooDataError("give the text either as an argument or with --file, not both")
    if args.file is not None:
        f = Path(args.file)
        if not f.is_file():
            raise ZooDataError(f"--file: no such file: {str(f)!r}")
        return f.read_bytes()
    if args.text is not None:
        return os.fsencode(args.text)
    return sys.stdin.buffer.read()


def cmd_reconstruct(args):
    out = reconstruct_bytes(args.model, read_input(args))
    sys.stdout.flush()  # text written before must not come after these bytes
    sys.stdout.buffer.write(out + b"\n")
    sys.stdout.buffer.flush()


def add_commands(sub) -> None:
    s = sub.add_parser("reconstruct", help="auto-encode a text (any bytes) with a byte autoencoder and "
                                           "write the reconstruction's bytes")
    s.add_argument("text", nargs="?", help="the text (default: --file, else read stdin as raw bytes)")
    s.add_argument("--file", help="read the paragraph's raw bytes from this file")
    s.add_argument("--model", default=DEFAULT_EXPORT, help=f"export or run directory (default: {DEFAULT_EXPORT})")
    s.set_defaults(fn=cmd_reconstruct)

"""SliceNet's verb of the `zoo` command line: `zoo translate EXPORT [TEXT] [--language L]`.

The export comes first and positionally, as in `zoo generate EXPORT` and `zoo attend EXPORT
IMAGE`; the earlier spelling `zoo translate TEXT --model EXPORT` still works."""
from __future__ import annotations

import argparse
import sys


def cmd_translate(args):
    from zoo.data.errors import ZooDataError
    from zoo.models.slicenet.export import TranslationClient

    if args.model is not None:   # the earlier spelling: TEXT --model EXPORT
        if args.second is not None:
            raise ZooDataError("give the export either first (zoo translate EXPORT [TEXT]) or with "
                               "--model, not both")
        export, text = args.model, args.first
    else:
        if args.first is None:
            raise ZooDataError("give the export directory: zoo translate EXPORT [TEXT]")
        export, text = args.first, args.second
    texts = [text] if text is not None else [l for l in sys.stdin.read().splitlines() if l.strip()]
    for line in TranslationClient(export).translate(texts, args.language):
        print(line)


def add_commands(sub) -> None:
    s = sub.add_parser("translate", help="translate text with an exported SliceNet model",
                       usage="zoo translate EXPORT [TEXT] [--language L]")
    s.add_argument("first", nargs="?", metavar="EXPORT", help="export directory (zoo export / zoo train --export)")
    s.add_argument("second", nargs="?", metavar="TEXT", help="the text (default: one sentence per stdin line)")
    s.add_argument("--model", help=argparse.SUPPRESS)   # the earlier spelling: zoo translate TEXT --model EXPORT
    s.add_argument("--language", help="target language of a multi-language model (default: its first)")
    s.set_defaults(fn=cmd_translate)

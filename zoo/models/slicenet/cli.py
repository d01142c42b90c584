"""SliceNet's verb of the `zoo` command line: `zoo translate TEXT --model EXPORT [--language L]`."""
from __future__ import annotations

import sys


def cmd_translate(args):
    from zoo.models.slicenet.export import TranslationClient

    texts = [args.text] if args.text is not None else [l for l in sys.stdin.read().splitlines() if l.strip()]
    for line in TranslationClient(args.model).translate(texts, args.language):
        print(line)


def add_commands(sub) -> None:
    s = sub.add_parser("translate", help="translate text with an exported SliceNet model")
    s.add_argument("text", nargs="?", help="the text (default: one sentence per stdin line)")
    s.add_argument("--model", required=True, help="export directory (zoo export / zoo train --export)")
    s.add_argument("--language", help="target language of a multi-language model (default: its first)")
    s.set_defaults(fn=cmd_translate)

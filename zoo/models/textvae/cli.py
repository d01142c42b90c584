"""The text VAEs' verbs of the `zoo` command line (Semeniuta's dissertation §5.5: sampling from
the prior and linear interpolation between two texts' codes):

    zoo sample EXPORT [-n 10] [--seed 0] [--temperature 0]
    zoo interpolate EXPORT "first text" "second text" [--steps 8]

One text per output line (newlines inside a text shown as the two characters \\n).
"""
from __future__ import annotations


def _client(path):
    from zoo.export import ExportError, open_export
    from zoo.models.textvae.client import TextVAEClient

    client = open_export(path)
    if not isinstance(client, TextVAEClient):
        m = client.manifest
        raise ExportError(f"{str(path)!r} is a {m['family']} export ({m.get('model')}); "
                          f"this verb needs a text VAE export")
    return client


def _show(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def cmd_sample(args):
    for text in _client(args.export).sample(args.n, seed=args.seed, temperature=args.temperature):
        print(_show(text))


def cmd_interpolate(args):
    for text in _client(args.export).interpolate(args.first, args.second, steps=args.steps):
        print(_show(text))


def add_commands(sub) -> None:
    s = sub.add_parser("sample", help="texts decoded from codes drawn from a text VAE's prior")
    s.add_argument("export", help="a text VAE export directory")
    s.add_argument("-n", type=int, default=10, help="how many texts (default 10)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--temperature", type=float, default=0.0, help="0 (default): greedy; > 0: sample each byte")
    s.set_defaults(fn=cmd_sample)

    s = sub.add_parser("interpolate", help="texts decoded along the line between two texts' codes "
                                           "(a text VAE export)")
    s.add_argument("export", help="a text VAE export directory")
    s.add_argument("first")
    s.add_argument("second")
    s.add_argument("--steps", type=int, default=8, help="codes on the line, both ends included (default 8)")
    s.set_defaults(fn=cmd_interpolate)

"""The ``fastnax`` command: a thin shell over the Python API.

It builds the parser from the registry of subcommands (:data:`fastnax.commands.COMMANDS`), runs
the chosen one and turns every user error into one line on stderr and a non-zero exit (2 for bad
input, 1 for an operating-system error).
"""

from __future__ import annotations

import argparse
import sys

from fastnax import __version__
from fastnax.commands import COMMANDS
from fastnax.commands.options import Parser


def build_parser() -> argparse.ArgumentParser:
    """The ``fastnax`` parser with every registered subcommand."""
    parser = Parser(prog="fastnax", description=(
        "Training-free co-design of CNNs and in-memory-computing crossbar hardware. "
        "Run 'fastnax search' for a co-design search on the embedded defaults."))
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module in COMMANDS.values():
        module.register(sub)
    return parser


def _version() -> str:
    return f"fastnax {__version__}"


def main(argv: list[str] | None = None) -> int:
    """Run ``fastnax ARGV``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    from fastnax.errors import FastnaxError

    try:
        return int(args.run(args) or 0)
    except FastnaxError as exc:
        sys.stderr.write(f"fastnax {args.command}: error: {exc}\n")
        return 2
    except (OSError, PermissionError) as exc:
        sys.stderr.write(f"fastnax {args.command}: error: {exc.strerror or exc}"
                         f"{': ' + str(exc.filename) if getattr(exc, 'filename', None) else ''}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write(f"fastnax {args.command}: interrupted\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

"""The ``fastnax`` command: a thin shell over the Python API.

Each subcommand lives in ``fastnax/commands/<name>.py`` with two functions: ``register(sub)`` adds
its argparse parser (cheap: no heavy import) and ``run(args) -> int`` does the work (importing what
it needs). Every user error surfaces as one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("search", "hw", "spaces", "sample", "fit", "train", "run", "rank", "explore")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (with the valid choices) and exit status 2."""

    def error(self, message: str):  # noqa: D401
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fastnax", description=(
        "Training-free co-design of CNNs and in-memory-computing crossbar hardware. "
        "Run 'fastnax search' for a co-design search on the embedded defaults."))
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"fastnax.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"fastnax.commands.{name}":
                continue  # not built yet
            raise
        module.register(sub)
    return parser


def _version() -> str:
    from fastnax import __version__

    return f"fastnax {__version__}"


def add_common(parser: argparse.ArgumentParser, seed: bool = True) -> None:
    """Options every command takes."""
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    if seed:
        parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def add_dataset_options(parser: argparse.ArgumentParser) -> None:
    """``--dataset`` (default digits), ``--root`` and ``--split``: the commands that train."""
    parser.add_argument("--dataset", default="digits",
                        help="digits (embedded, default), mnist, cifar10, cifar100, tinyimagenet, synthetic")
    parser.add_argument("--root", default=None, help="folder holding the dataset files")
    parser.add_argument("--split", default=None, metavar="N_TRAIN/N_TEST",
                        help="re-split the images found, e.g. 8000/2000 for the MNIST test images alone")


def parse_space_options(items: list[str]) -> dict:
    """``--space-option KEY=VALUE`` pairs as a dict (integers where the value is one)."""
    from fastnax.errors import BoundsError

    options = {}
    for item in items:
        if "=" not in item:
            raise BoundsError(f"--space-option must be KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        key, value = key.strip(), value.strip()
        try:
            options[key] = int(value)
        except ValueError:
            options[key] = value
    return options


def main(argv: list[str] | None = None) -> int:
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

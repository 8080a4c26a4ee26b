"""The argparse pieces every subcommand shares: the one-line-error parser and common options."""

from __future__ import annotations

import argparse
import sys

from fastnax.commands.argtypes import non_negative_int


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (with the valid choices) and exit status 2."""

    def error(self, message: str):  # noqa: D401
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def add_common(parser: argparse.ArgumentParser, seed: bool = True) -> None:
    """Options every command takes: ``--json`` and (with ``seed``) ``--seed``."""
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    if seed:
        parser.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")


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

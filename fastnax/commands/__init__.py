"""The subcommands of the ``fastnax`` command line, one module each, registered here.

A subcommand module has two functions: ``register(sub)`` adds its argparse parser (cheap: it
imports nothing heavy, so ``fastnax --help`` stays fast and torch-free) and ``run(args) -> int``
does the work through the Python API, importing what it needs. Shared options are in
:mod:`fastnax.commands.options`. A new subcommand is one module and one entry in
:data:`COMMANDS`; :mod:`fastnax.cli` only parses and reports errors.
"""

from __future__ import annotations

from fastnax.commands import explore, fit, hw, predict, rank, run, sample, search, spaces, train

#: Subcommand name -> module, in the order ``fastnax --help`` lists them.
COMMANDS = {"search": search, "predict": predict, "hw": hw, "spaces": spaces, "sample": sample, "fit": fit,
            "train": train, "run": run, "rank": rank, "explore": explore}

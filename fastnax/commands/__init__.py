"""Subcommands of the ``fastnax`` command line (see ``fastnax.cli``)."""

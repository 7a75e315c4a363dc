"""Subcommands of the ``rdshare`` CLI, one module each, each with ``register(subparsers, formatter)``."""

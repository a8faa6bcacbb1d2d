"""Subcommands of tta, one module each."""

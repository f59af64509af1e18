"""Subcommands of the ``airra`` command line, one module each."""

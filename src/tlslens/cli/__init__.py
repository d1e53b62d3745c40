"""EDGE: the command line, one module per command (`show`, `decrypt`, `certs`, `pki`)."""

from tlslens.cli.app import main, run

__all__ = ["main", "run"]

"""``python -m kafkasim``."""

from kafkasim.cli import entry

entry()

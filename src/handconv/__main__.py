"""``python -m handconv`` runs the command line."""

from .cli import run

run()

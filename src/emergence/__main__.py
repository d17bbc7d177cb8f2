"""``python -m emergence`` runs the CLI."""

from .cli import main

main()

"""``python -m dcwatch``."""

from dcwatch.cli import main

main()

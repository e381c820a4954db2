"""`python -m credbridge` runs the command line."""

from credbridge.cli import main

main()

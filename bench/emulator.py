"""Emulator throughput and dataset generation speed (see credbridge.emulator.bench)."""

import sys

from credbridge.emulator.bench import main

if __name__ == "__main__":
    sys.exit(main())

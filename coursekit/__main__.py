"""`python -m coursekit ...` runs the `coursekit` command (see `coursekit/cli.py`)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())

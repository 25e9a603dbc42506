"""``python -m cleveragents``: the same command line as ``cleveragents``."""

import sys

from cleveragents.cli.app import main

if __name__ == "__main__":
    sys.exit(main())

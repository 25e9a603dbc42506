"""``python -m cleveragents``: the same command line as ``cleveragents``."""

from cleveragents.cli.app import main

if __name__ == "__main__":
    main()

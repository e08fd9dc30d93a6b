"""Run the CLI with ``python -m segab``."""

from segab.cli import main

if __name__ == "__main__":
    main()

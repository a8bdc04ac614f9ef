"""The frozen app's entry point: the same command line as `python -m console`."""

import sys

from console.__main__ import main

if __name__ == "__main__":
    sys.exit(main())

"""``python -m hetflow``: the same command line as the ``hetflow`` console script."""

import sys

from hetflow.flows.cli import main

sys.exit(main())

"""`python -m asrkit` runs the command line."""

import sys

from asrkit.cli import main

sys.exit(main())

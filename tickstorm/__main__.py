"""`python -m tickstorm` is the same as the `tickstorm` command."""

import sys

from tickstorm.cli import main

sys.exit(main())

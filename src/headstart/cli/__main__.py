"""``python -m headstart.cli`` (also what torchrun runs)."""

import sys

from headstart.cli import main

sys.exit(main())

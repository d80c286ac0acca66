"""``python -m seglab.cli``."""

import sys

from . import main

sys.exit(main())

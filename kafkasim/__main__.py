"""``python -m kafkasim``."""

import sys

from kafkasim.cli import main

sys.exit(main())

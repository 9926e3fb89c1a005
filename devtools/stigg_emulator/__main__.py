"""Entry point for ``python -m stigg_emulator`` (see :mod:`stigg_emulator.cli`)."""

import sys

from .cli import main

sys.exit(main())

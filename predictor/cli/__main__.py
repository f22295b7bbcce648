"""``python -m predictor.cli`` (what ``torchrun -m predictor.cli ...`` launches)."""

import sys

from .main import main

sys.exit(main())

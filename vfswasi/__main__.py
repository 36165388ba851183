"""`python -m vfswasi run ...` (the same as the `vfswasi` command)."""

import sys

from .cli import main

sys.exit(main())

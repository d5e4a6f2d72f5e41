"""`python -m tools.reliability [--quick] [--out docs/RELIABILITY.md] [--json]`."""

import sys

from tools.reliability.suite import main

sys.exit(main())

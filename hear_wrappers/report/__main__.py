"""``python -m hear_wrappers.report``: see `hear_wrappers.report.cli.main`."""

import sys

from hear_wrappers.report.cli import main

sys.exit(main())

"""``python -m hybridtl.cli``: the command line, as ``python -m hybridtl``."""

import sys

from . import main

sys.exit(main())

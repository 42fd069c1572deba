"""``python -m readlx.cli``: the same as the ``readlx`` command."""
from __future__ import annotations

import sys

from readlx.cli import main

sys.exit(main())

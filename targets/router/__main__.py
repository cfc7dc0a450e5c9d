"""``python -m powerpeg.targets.router``: one router fleet member (``service.main``)."""
from __future__ import annotations

import sys

from .service import main

if __name__ == "__main__":
    sys.exit(main())

"""``python -m powerpeg.targets.monitor``: the risk monitor on the exchange drop copy (``service.main``)."""
from __future__ import annotations

from .service import main

if __name__ == "__main__":
    main()

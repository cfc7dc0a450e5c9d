"""``python -m powerpeg.targets.exchange``: flags → config → serve until SIGTERM (``service.main``)."""
from __future__ import annotations

from .service import main

if __name__ == "__main__":
    main()

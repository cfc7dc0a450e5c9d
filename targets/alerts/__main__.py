"""``python -m powerpeg.targets.alerts``: the alert sink (pager, phone, mailbox, chat) (``service.main``)."""
from __future__ import annotations

from .service import main

if __name__ == "__main__":
    main()

"""The alert sink: receives alerts over HTTP (its own JSON, Alertmanager, PagerDuty) and routes them
to pager, phone, mailbox or chat."""

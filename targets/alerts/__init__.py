"""The alert sink: receives alerts over HTTP and routes them to pager or mailbox."""

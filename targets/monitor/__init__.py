"""The risk monitor: independent surveillance on the firm's exchange drop copy."""

"""One module per sender type: verify the raw request, parse it into records (see base.py)."""

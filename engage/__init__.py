"""Engage Voice (RingCX) access: the client, its auth, and a faithful fake server."""

"""Cassettes (record through to the real API, replay offline) and the exchanges recorded from the vendor docs."""

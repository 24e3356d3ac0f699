"""The `/v1` route modules, one per API area, and the request validation they share (fidelity modes)."""

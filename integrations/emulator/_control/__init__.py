"""The per-test knobs of a running emulator: controls, injected faults, tier rate limits."""

"""State that outlives a request: the SQLite store, the emulated clock, files, batch and fine-tuning jobs."""

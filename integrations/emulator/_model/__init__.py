"""The emulated model: what it answers (scripted, recorded, agent-like, schema-shaped), embeddings, Verify."""

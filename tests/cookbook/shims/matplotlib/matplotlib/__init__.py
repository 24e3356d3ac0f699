"""A stand-in for matplotlib (see ../../README.md)."""

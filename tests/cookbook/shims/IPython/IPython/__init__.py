"""A stand-in for IPython (see ../../README.md)."""

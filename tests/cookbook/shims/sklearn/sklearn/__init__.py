"""A stand-in for scikit-learn (see ../../README.md)."""

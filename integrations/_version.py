"""Single source of the package version (used in the User-Agent and `--version`)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kluster-agents")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+local"

# Sent on every request; lives here so the client and its openai subclasses share it without a cycle.
USER_AGENT = f"kluster-agents/{__version__}"

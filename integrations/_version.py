"""Single source of the package version (used in the User-Agent and `--version`)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kluster-agents")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+local"

# Sent on every request; lives here so the client and its openai subclasses share it without a cycle.
USER_AGENT = f"kluster-agents/{__version__}"


def product(distribution: str) -> str:
    """A User-Agent product for an installed distribution, e.g. "litellm/1.105.0" (no version when absent)."""
    try:
        return f"{distribution}/{version(distribution)}"
    except PackageNotFoundError:
        return distribution


# Products every client of this process appends (the CLI adds "kluster-agents-cli"); here, not in the
# client module, so that the CLI can mark itself without importing openai at start-up.
PROCESS_PRODUCTS: list[str] = []


def add_user_agent_product(name: str) -> None:
    """Append `name` to the User-Agent of every client made from now on in this process."""
    if name not in PROCESS_PRODUCTS:
        PROCESS_PRODUCTS.append(name)

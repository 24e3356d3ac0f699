"""Single source of the package version (packaging reads it from here; used in the User-Agent and `--version`).

A literal rather than `importlib.metadata.version()`: importing `importlib.metadata` costs more than the
whole `kluster-agents --version` answer should, and every CLI start and client import pays for this module.
"""

__version__ = "0.1.0"

# Sent on every request; lives here so the client and its openai subclasses share it without a cycle.
USER_AGENT = f"kluster-agents/{__version__}"


def product(distribution: str) -> str:
    """A User-Agent product for an installed distribution, e.g. "litellm/1.105.0" (no version when absent)."""
    from importlib.metadata import PackageNotFoundError, version

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

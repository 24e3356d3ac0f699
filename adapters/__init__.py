"""One module per agent framework. Importing this package imports no framework; each
subpackage imports its own framework lazily and names the extra when it is missing."""

__all__: list[str] = []  # the adapters are its subpackages: kluster_agents.adapters.<framework>

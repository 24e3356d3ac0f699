"""Testing helpers for users of kluster-agents: the pytest plugin (`pytest_plugin`), registered as the
`pytest11` entry point `kluster_agents`. It loads without the `testing` extra; its fixtures need it."""

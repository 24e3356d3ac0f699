"""`python -m kluster_agents.integrations._cli` runs the console script (what tests and `demo` runs use)."""

from kluster_agents.integrations._cli import main

main()

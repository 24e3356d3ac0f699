"""`python -m kluster_agents.integrations._cli` runs the console script (what tests and `demo` runs use)."""

from kluster_agents.integrations._cli import main

if __name__ == "__main__":  # importing the module (e.g. walking the package) runs nothing
    main()

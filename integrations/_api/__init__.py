"""The API layer (settings, errors, catalog, compat, the client); private: users import from `kluster_agents.integrations`."""

"""Verify (client, policy); private: users import from `kluster_agents.integrations`."""

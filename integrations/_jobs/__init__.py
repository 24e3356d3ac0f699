"""Jobs (batch, micro-batcher, adaptive, fine-tuning, the journal); private: users import from `kluster_agents.integrations`."""

"""The inspector page and the request log it reads."""

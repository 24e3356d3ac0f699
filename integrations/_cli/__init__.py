"""The `kluster-agents` command line (typer + rich); `app.py` assembles the commands each area owns."""

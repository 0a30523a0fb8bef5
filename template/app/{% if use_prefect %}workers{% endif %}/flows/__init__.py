"""Flows: compose tasks, log through `run_logger()`, and are listed in `deployments.py`."""

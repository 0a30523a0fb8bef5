"""The Prefect adapter: background work that runs domain services as the system.

`tasks/` hold units of work (one transaction each, retried on infrastructure errors only),
`flows/` compose them, `deployments.py` lists what the worker runs and when, and `main.py` is
the worker process (`make worker`). The API never imports this package, and this package never
imports the API.
"""

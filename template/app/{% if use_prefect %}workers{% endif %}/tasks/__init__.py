"""Tasks: one unit of work each, declared with `database_task` (see `app/workers/runtime.py`)."""

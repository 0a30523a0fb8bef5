"""The worker process: `make worker` (`python -m app.workers.main`).

On start it checks the Prefect API, registers every deployment of `app/workers/deployments.py`
on the work pool (`WORKER_POOL`, created by `make init-prefect`), then polls the pool and runs
each flow run in a subprocess of this project. Several workers may poll the same pool. Stop it
with Ctrl-C or SIGTERM: runs in progress are left to finish or are reported as crashed.
"""

import asyncio
import inspect
import signal
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect import Flow
from prefect.workers.process import ProcessWorker
from pydantic import ValidationError

from app.infrastructure.config import Settings, get_settings
from app.workers.deployments import DEPLOYMENTS, Deployment
from app.workers.server import PrefectUnavailable, prefect_client, require_work_pool

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def entrypoint(flow: Flow[..., Any]) -> str:
    """Where a flow run finds the flow: `path/to/module.py:function`, from the project root."""
    source = inspect.getsourcefile(flow.fn)
    function = getattr(flow.fn, "__name__", None)
    if source is None or function is None:
        raise ValueError(f"flow {flow.name!r} is not a function defined in a file")
    relative = Path(source).resolve().relative_to(PROJECT_ROOT)
    return f"{relative.as_posix()}:{function}"


async def register(deployment: Deployment, pool: str) -> UUID:
    """Create or update a deployment whose runs execute this project's code on `pool`."""
    flow = await Flow.afrom_source(source=PROJECT_ROOT, entrypoint=entrypoint(deployment.flow))
    return await flow.adeploy(
        name=deployment.name,
        work_pool_name=pool,
        job_variables={"working_dir": str(PROJECT_ROOT)},
        cron=deployment.cron,
        parameters=deployment.parameters,
        description=deployment.flow.description,
        print_next_steps=False,
        ignore_warnings=True,
    )


async def run_worker(settings: Settings) -> None:
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    async with prefect_client(settings) as client:
        await require_work_pool(client, settings.worker_pool)
        for deployment in DEPLOYMENTS:
            await register(deployment, settings.worker_pool)
        async with ProcessWorker(work_pool_name=settings.worker_pool) as worker:
            await worker.start()


def main() -> int:
    try:
        asyncio.run(run_worker(get_settings()))
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        sys.stderr.write(f"worker: invalid settings: {problems}\n")
        return 2
    except PrefectUnavailable as error:
        sys.stderr.write(f"worker: {error}\n")
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

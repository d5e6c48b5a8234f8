"""What-if jobs: simulations run off the event loop in worker processes, with progress.

``shared_runner()`` is the process's ``JobRunner``; ``tasks`` holds what a job can run (what-if,
commissioning, improvement ranking, buffer allocation). The API (``api/whatif.py``) and the
dashboard start and watch jobs through it.
"""

from .jobs import Job, JobRunner, JobsFull, close_shared_runner, shared_runner
from .tasks import allocation_task, commission_task, ranking_task, scenario_of, whatif_task

__all__ = [
    "Job",
    "JobRunner",
    "JobsFull",
    "allocation_task",
    "close_shared_runner",
    "commission_task",
    "ranking_task",
    "scenario_of",
    "shared_runner",
    "whatif_task",
]

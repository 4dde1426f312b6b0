"""The Celery app both sides share: broker settings that lose nothing, and broker checks.

Settings (see docs/architecture.md, "Distributed evaluation"):
- ``acks_late`` + ``reject_on_worker_lost``: a message is acknowledged only after its task
  returned; if the pool process running it dies, the message goes back to the queue.
- prefetch multiplier 1: a worker holds no more messages than it has free processes.
- soft/hard time limits per task above the problem's sandbox wall limit; the Redis visibility
  timeout above the largest hard limit, so a slow task is never handed to a second worker, with a
  2 s unacked-restore sweep so a message of a worker that died whole comes back soon after.
- max tasks and resident memory per pool process: leaks cannot accumulate.
The archive, not the result backend, holds outcomes; the backend only carries the scores of
code that has no program row (baselines), which can always be recomputed.
"""

from __future__ import annotations

from celery import Celery
from kombu.exceptions import ChannelError, OperationalError

from evaluators.problem import ProblemSpec, list_problems

QUEUE = "evolve.evaluations"
EVALUATE = "evolve.evaluate"
EVALUATE_CODE = "evolve.evaluate_code"
SOFT_MARGIN_SECONDS = 30.0
HARD_MARGIN_SECONDS = 60.0
MIN_VISIBILITY_SECONDS = 300.0


class BrokerUnreachable(Exception):
    pass


def time_limits(spec: ProblemSpec) -> tuple[float, float]:
    """(soft, hard) Celery time limits for one evaluation of ``spec``."""
    return (spec.limits.wall_seconds + SOFT_MARGIN_SECONDS,
            spec.limits.wall_seconds + HARD_MARGIN_SECONDS)


def visibility_timeout() -> float:
    hard = [time_limits(spec)[1] for spec in list_problems()]
    return max([MIN_VISIBILITY_SECONDS, *(h + 60.0 for h in hard)])


def make_app(broker: str) -> Celery:
    app = Celery("evolve", broker=broker, backend=broker if broker.startswith("redis") else None,
                 set_as_current=False)
    app.conf.update(
        task_default_queue=QUEUE,
        task_serializer="json", result_serializer="json", accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        worker_max_tasks_per_child=500,
        worker_max_memory_per_child=1_500_000,  # KiB of resident memory
        worker_cancel_long_running_tasks_on_connection_loss=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": visibility_timeout(),
                                  "unacked_restore_interval": 2, "unacked_restore_throttle": 1},
        result_expires=3600,
        result_backend_transport_options={"retry_policy": {"timeout": 5.0}},
        task_track_started=False,
        worker_send_task_events=False,
    )
    return app


def check_broker(app: Celery, timeout: float = 5.0) -> None:
    """Raise ``BrokerUnreachable`` with a one-line fix if the broker does not answer."""
    url = app.conf.broker_url
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
    except (OperationalError, OSError) as exc:
        raise BrokerUnreachable(
            f"cannot reach the Celery broker at {url}: {exc}; start Redis there or pass "
            "--broker redis://HOST:6379/0") from None


def queue_length(app: Celery) -> int | None:
    """Messages waiting in the evaluation queue (None if the broker cannot say)."""
    try:
        with app.connection_for_read() as conn:
            return conn.default_channel.queue_declare(queue=QUEUE, passive=True).message_count
    except ChannelError:  # Redis keeps no key for an empty list: the queue holds nothing
        return 0
    except Exception:
        return None

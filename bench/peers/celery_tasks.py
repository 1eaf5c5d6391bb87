"""The Celery app of the bench/compare Celery peer: one task that appends a line per job."""

import os
import time

from celery import Celery

app = Celery("bench", broker=os.environ.get("BENCH_BROKER", "redis://127.0.0.1:6379/0"))
app.conf.update(
    task_ignore_result=True,
    # ETA tasks stay unacknowledged until they run; keep the broker from redelivering them.
    broker_transport_options={"visibility_timeout": 7200},
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task(name="deliver")
def deliver(payload, out):
    now = time.time()
    with open(out, "a") as f:
        f.write(f"{payload['i']} {payload['recipient']} {now:.6f}\n")

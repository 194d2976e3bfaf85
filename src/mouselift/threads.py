"""How many threads each process runs, so that processes × threads ≤ cores.

Every process of the libraries we use (torch's OpenMP and MKL, OpenCV's pool, the OpenBLAS of
numpy and of OpenCV) starts as many threads as the machine has cores. Where several processes
share the cores (prepare's workers, DataLoader workers, ``torchrun`` / ``accelerate launch``),
their threads oversubscribe the cores, and idle OpenMP threads spin on the cores that the others
need: a process next to a busy one then runs 3–18× slower, not 2× (``docs/benchmarks.md``,
"threads"). :func:`threads_per_process` divides the cores
this process may use (its CPU affinity, e.g. under ``taskset``) among the processes of one
launch; :func:`set_threads` applies a count to every library's pool (OpenCV: always one).
"""

from __future__ import annotations

import os
import sys

#: Environment variables of the launchers (torchrun, accelerate launch) giving the number of
#: processes started on this machine, most specific first.
LAUNCHER_PROCESSES = ("LOCAL_WORLD_SIZE", "WORLD_SIZE")


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity: ``taskset``, cgroups' cpusets)."""
    return len(os.sched_getaffinity(0))


def launched_processes() -> int:
    """Processes a launcher started on this machine for this job (1 when not launched)."""
    for name in LAUNCHER_PROCESSES:
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1


def threads_per_process(threads: int | None = None, processes: int = 1) -> int:
    """Threads for each of ``processes`` processes that this process is about to run.

    ``threads`` when given (``--threads``); else, outside a launcher, ``OMP_NUM_THREADS`` when
    the user set it; else the available cores divided by ``processes`` and by the processes of
    the launch (:func:`launched_processes`), at least 1. Under a launcher ``OMP_NUM_THREADS`` is
    not read: torchrun sets it to 1 for every process when it is unset.
    """
    if threads is not None:
        return threads
    launched = launched_processes()
    user = os.environ.get("OMP_NUM_THREADS", "")
    if launched == 1 and user.isdigit() and int(user) > 0:
        return int(user)
    return max(1, available_cores() // (processes * launched))


def set_threads(count: int) -> None:
    """Run torch (OpenMP, MKL) and every BLAS loaded (numpy's, OpenCV's OpenBLAS) with ``count``
    threads in this process, and OpenCV with one. Torch is not imported for it: when it is not
    loaded yet, ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` tell it the count.

    OpenCV always runs one thread in mouselift (our parallelism is torch's and prepare's own):
    its pool is not fork-safe once started — a forked worker that touches a pool its parent
    started waits forever — so it is never started, and a worker never reconfigures it."""
    import cv2
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(count)
    else:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(count)
    if cv2.getNumThreads() != 1:
        cv2.setNumThreads(1)
    threadpool_limits(count, user_api="blas")


def use_threads(threads: int | None = None) -> int:
    """Give this process its share of the cores (:func:`threads_per_process`: under
    ``torchrun --nproc_per_node N`` cores // N); return the count."""
    count = threads_per_process(threads)
    set_threads(count)
    return count


def single_thread_worker(_worker_id: int) -> None:
    """``worker_init_fn`` of a DataLoader: its worker processes run one thread each (torch sets
    only its own pool to 1)."""
    set_threads(1)


__all__ = [
    "available_cores",
    "launched_processes",
    "set_threads",
    "single_thread_worker",
    "threads_per_process",
    "use_threads",
]

"""Host threads: how many a solve's host work takes, and the pool that runs it.

The exact leaves (SciPy), the half-space levels and the refinement's halvings run NumPy and
SciPy work that releases the GIL in a pool of threads. Each thread keeps a single-threaded
BLAS: a multithreaded BLAS inside each would oversubscribe the cores (on this project's
2-core CPU, a leaf of 128 points in 2048-D took 75 ms instead of 6 ms).
"""

from __future__ import annotations

import builtins
import functools
import os
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from threadpoolctl import ThreadpoolController


def threads(requested: int) -> int:
    """Host threads for a solve: ``requested``, or every core this process may use (0)."""
    if requested:
        return requested
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Pool:
    """Where host tasks run: ``threads`` threads of ``executor``, or this thread
    (``executor`` None)."""

    executor: Executor | None = None
    threads: int = 1

    def map(self, function, *arguments):
        return (self.executor or builtins).map(function, *arguments)


@functools.cache
def _blas_controller() -> ThreadpoolController:
    """The process's BLAS libraries, found at its first pool and kept: finding them reads the
    process's memory map, about 5 ms per pool with JAX loaded (20 ms of a 0.6 s solve at
    n = 2^16 in 2-D). The pools' tasks run NumPy and SciPy, whose BLAS their callers have
    loaded by then (the solver imports :mod:`hiref.leaves`, which imports both)."""
    return ThreadpoolController()


@contextmanager
def pool(count: int):
    """A :class:`Pool` of ``count`` threads, each with a single-threaded BLAS (this thread
    alone when ``count`` is 1). Open one for a stage's many tasks: starting threads and
    limiting BLAS cost milliseconds each time."""
    if count <= 1:
        yield Pool()
        return
    with _blas_controller().limit(limits=1, user_api="blas"), \
            ThreadPoolExecutor(count) as executor:
        yield Pool(executor, count)

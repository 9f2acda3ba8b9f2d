"""The worker's threads for sync (`def`) tasks: jobs in through one queue, outcomes out in batches.

`size` threads each take the next attempt from a shared queue, run it (`ThreadAttempt.run`: load,
call, classify), and take the next one without going back to the event loop. Finished attempts
collect in a list; the first one to land in an empty list schedules one callback on the loop,
which takes everything that finished meanwhile. So a busy pool costs one loop wake-up per batch
of outcomes, not an executor future, a task and a wake-up per job (the profile of issue 8).

Overrunning threads are reported by a timer on the loop (`ThreadOverran`, at the deadline while
the call still runs); the thread is waited for as before, whatever the timer says.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable

from .runner import AttemptRunner, ThreadAttempt

_STOP = None


class ThreadPool:
    """Runs `ThreadAttempt`s on `size` threads; `deliver` gets the finished ones on the loop."""

    def __init__(
        self,
        size: int,
        runner: AttemptRunner,
        deliver: Callable[[list[ThreadAttempt]], None],
        *,
        name: str = "conveyor-task",
    ) -> None:
        self.size = size
        self.runner = runner
        self.deliver = deliver
        self.name = name
        self._queue: queue.SimpleQueue[ThreadAttempt | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._done: list[ThreadAttempt] = []
        self._lock = threading.Lock()
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def submit(self, call: ThreadAttempt) -> None:
        """On the loop: queue one attempt for the next free thread."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        if len(self._threads) < self.size:
            self._start_thread()
        if call.timeout is not None:
            call.handle = self._loop.call_at(
                self._loop.time() + call.timeout, self._check_overrun, call
            )
        self._queue.put(call)

    def take_unstarted(self) -> list[ThreadAttempt]:
        """On the loop: the queued attempts no thread has taken yet, each ended as handed back
        (its task was never called). A worker stopping gives back the jobs it claimed ahead."""
        taken: list[ThreadAttempt] = []
        while True:
            try:
                call = self._queue.get_nowait()
            except queue.Empty:
                return taken
            if call is _STOP:  # closing already: leave the threads their sentinel
                self._queue.put(call)
                return taken
            if call.handle is not None:
                call.handle.cancel()
            call.hand_back()
            taken.append(call)

    def close(self) -> None:
        """Let the threads end once their current attempt returns (none is interrupted)."""
        for _ in self._threads:
            self._queue.put(_STOP)
        self._threads.clear()

    # -- the threads ----------------------------------------------------------------------

    def _start_thread(self) -> None:
        thread = threading.Thread(
            target=self._work, name=f"{self.name}_{len(self._threads)}", daemon=False
        )
        self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        take = self._queue.get
        while (call := take()) is not _STOP:
            call.run()
            self._hand_back(call)

    def _hand_back(self, call: ThreadAttempt) -> None:
        with self._lock:
            self._done.append(call)
            first = not self._scheduled
            self._scheduled = True
        if first and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: an abandoned attempt
                self._loop.call_soon_threadsafe(self._collect)

    # -- back on the loop -----------------------------------------------------------------

    def _collect(self) -> None:
        with self._lock:
            batch, self._done = self._done, []
            self._scheduled = False
        for call in batch:
            if call.handle is not None:
                call.handle.cancel()
        self.deliver(batch)

    def _check_overrun(self, call: ThreadAttempt) -> None:
        """The timer at a call's deadline: report it if it still runs, else look again at the
        deadline counted from when its thread really started it."""
        call.handle = None
        deadline = call.overrun_deadline()
        if deadline is None or call.overran_reported or self._loop is None:
            return
        if call.call_started is not None and call.overran():
            self.runner.report_overrun(call)
            return
        delay = max(deadline - time.monotonic(), 0.001)
        call.handle = self._loop.call_at(self._loop.time() + delay, self._check_overrun, call)

"""The suite's Jupyter kernels: quiet, and stoppable at once by Ctrl-C.

Papermill runs each notebook in a worker thread, which never sees ``KeyboardInterrupt``, and each
kernel in a session (process group) of its own, which the terminal's Ctrl-C does not reach: left
alone, an interrupted suite would wait for the running notebook to end. So every kernel the suite
starts is kept in ``LIVE`` while it lives, and ``LIVE.stop_all()`` (called by the main thread on
Ctrl-C) kills each one's process group; papermill then sees a dead kernel, saves the executed
notebook as far as it got and returns, and the worker thread ends.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import IO


class LiveKernels:
    """The process groups of the kernels now running; ``stop_all`` kills them, and any kernel
    that starts after it until ``reopen``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._groups: dict[int, int] = {}  # id(kernel manager) -> process group
        self.stopped = False

    def reopen(self) -> None:
        """Let kernels run again (a new batch of notebooks)."""
        with self._lock:
            self.stopped = False

    def add(self, manager: object, group: int) -> None:
        """Track a kernel just launched; kill it at once if the batch was stopped meanwhile."""
        with self._lock:
            if self.stopped:
                _kill(group)
            else:
                self._groups[id(manager)] = group

    def discard(self, manager: object) -> None:
        with self._lock:
            self._groups.pop(id(manager), None)

    def stop_all(self) -> list[int]:
        """Kill every live kernel's process group (SIGKILL: at once, whatever its cell is doing)
        and any that starts from now on; returns the groups killed."""
        with self._lock:
            self.stopped = True
            groups = list(self._groups.values())
            for group in groups:
                _kill(group)
            return groups


def _kill(group: int) -> None:
    """SIGKILL to process group ``group``, never to the suite's own (where a kernel would share
    it, which jupyter_client's launcher never does on POSIX, the terminal's Ctrl-C reaches it)."""
    if group == os.getpgrp():
        return
    try:
        os.killpg(group, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):  # gone already
        pass


LIVE = LiveKernels()  # the kernels of this process: there is one terminal to press Ctrl-C in


def kernel_manager(log: IO[str] | None = None) -> type:
    """A Jupyter kernel manager whose kernels are kept in ``LIVE`` while they run and, with
    ``log``, write their own output (start-up notes, warnings such as "running over TCP without
    encryption") there rather than to the console."""
    from jupyter_client.manager import AsyncKernelManager

    redirect = {"stdout": log, "stderr": log} if log is not None else {}

    class SuiteKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
            await super()._async_launch_kernel(kernel_cmd, **{**kw, **redirect})
            provisioner = self.provisioner  # a LocalProvisioner: the kernel leads its own session
            LIVE.add(self, getattr(provisioner, "pgid", None) or provisioner.pid)

        async def _async_shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
            LIVE.discard(self)
            await super()._async_shutdown_kernel(now=now, restart=restart)

    return SuiteKernelManager

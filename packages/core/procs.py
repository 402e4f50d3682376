"""Child processes (ffmpeg, the trainer, the embedder) die with the process that started them.

A server or worker killed with SIGKILL (the OOM killer, `kill -9`, a lost machine) cannot stop its
children, and an orphaned ffmpeg or trainer would go on writing into the very files the restarted
job is about to write again. On Linux each child asks the kernel for SIGKILL when its parent dies
(PR_SET_PDEATHSIG); elsewhere this is a no-op. Pass `**dies_with_parent()` to `subprocess` /
`asyncio.create_subprocess_exec`, or call `die_with_parent()` first thing in a child process."""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import sys

PR_SET_PDEATHSIG = 1
_prctl = None
if sys.platform.startswith("linux"):
    try:
        _prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: the child only calls it
    except (OSError, AttributeError):
        _prctl = None


def die_with_parent(parent: int | None = None) -> None:
    """In the child: SIGKILL me when my parent dies (and now, if it died before I got here)."""
    if _prctl is None:
        return
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent is not None and os.getppid() != parent:
        os._exit(1)


BACKGROUND_NICE = 10


def _start_child(parent: int, nice: int) -> None:
    die_with_parent(parent)
    if nice:
        os.nice(nice)


def dies_with_parent(*, background: bool = False) -> dict:
    """Keyword arguments for subprocess / asyncio.create_subprocess_exec (runs between fork and exec).
    `background`: the child also runs at a lower CPU priority (nice 10), for batch encodes (scene
    and episode assembly) that must not starve the server, the dispatch of GPU work and the encodes
    a waiting shot needs; it runs at full speed whenever the CPU is otherwise idle."""
    nice = BACKGROUND_NICE if background else 0
    if _prctl is None and not nice:
        return {}
    return {"preexec_fn": functools.partial(_start_child, os.getpid(), nice)}

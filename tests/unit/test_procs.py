"""Child processes: background encodes run at a lower CPU priority than the server."""

import os
import subprocess
import sys

from packages.core.procs import BACKGROUND_NICE, dies_with_parent


def _child_nice(**kwargs) -> int:
    out = subprocess.run([sys.executable, "-c", "import os; print(os.nice(0))"], capture_output=True, text=True,
                         check=True, **kwargs)
    return int(out.stdout)


def test_a_background_child_runs_niced_and_a_plain_one_does_not():
    """dies_with_parent(background=True) lowers the child's priority by BACKGROUND_NICE; without
    it the child keeps the parent's priority."""
    own = os.nice(0)
    assert _child_nice(**dies_with_parent()) == own
    assert _child_nice(**dies_with_parent(background=True)) == min(own + BACKGROUND_NICE, 19)

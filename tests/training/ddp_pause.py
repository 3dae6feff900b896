"""A colorize-train worker for tests/training/test_distributed.py that stops mid-run, so that the
test can kill the run at a known point instead of racing it.

Every rank trains normally until epoch ``$DDP_PAUSE_EPOCH``; there, after that epoch's optimiser
steps and before its validation (so before its checkpoint and history row), it writes its process
id to ``$DDP_PAUSE_FOLDER/rank<RANK>.pid`` and sleeps. No rank is inside a collective then, so
nothing times out while the test looks at the run folder and kills the processes. A rank that is
never killed gives up after ``PAUSE_SECONDS`` with an error, so a broken test leaves no process
behind for long.
"""

import os
import sys
import time
from pathlib import Path

from colorize_core.runs import train_command
from colorize_core.training import fit

PAUSE_SECONDS = 300


def pause_in(epoch: int, folder: Path):
    """``fit.validation_loss`` that pauses this rank at its ``epoch``-th call (fit calls it once
    per epoch)."""
    validation_loss, calls = fit.validation_loss, 0

    def paused(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == epoch:
            written = folder / f"rank{os.environ['RANK']}.pid.part"
            written.write_text(str(os.getpid()))
            written.replace(written.with_suffix(""))  # the test never reads half a file
            time.sleep(PAUSE_SECONDS)
            raise RuntimeError(f"paused in epoch {epoch} for {PAUSE_SECONDS} s, never killed")
        return validation_loss(*args, **kwargs)

    return paused


if __name__ == "__main__":
    fit.validation_loss = pause_in(
        int(os.environ["DDP_PAUSE_EPOCH"]), Path(os.environ["DDP_PAUSE_FOLDER"])
    )
    sys.exit(train_command.main(sys.argv[1:]))

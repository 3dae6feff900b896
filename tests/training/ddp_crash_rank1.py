"""A colorize-train worker for tests/training/test_distributed.py whose rank 1 fails in its first
validation, while rank 0 waits for it in a collective: torchrun must end both, fast."""

import os
import sys

from colorize_core.runs import train_command
from colorize_core.training import fit


def fail(*args, **kwargs):
    raise RuntimeError("rank 1 fails on purpose")


if __name__ == "__main__":
    if os.environ.get("RANK") == "1":
        fit.validation_loss = fail
    sys.exit(train_command.main(sys.argv[1:]))

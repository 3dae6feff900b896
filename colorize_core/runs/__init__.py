"""Stage 5, runs: one experiment end to end (train, score, write ``results/<run>/``), from a
notebook, from ``colorize-train``, or under torchrun."""

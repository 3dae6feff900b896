"""Stage 7, apps: what people run on their own photos (``colorize``, ``colorize serve``,
``colorize export``, the photo notebook's helpers) and the benchmark."""

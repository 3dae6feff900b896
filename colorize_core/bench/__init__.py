"""Stage 8, bench: the speed benchmark (``colorize-bench``), a developer tool that times the stages
before it (the data path, metrics, training steps, the cache, data-parallel runs).

A module imports only modules listed after it: ``command`` (settings, the run, the files it
writes); ``sections`` (one function per measured section); ``measure`` (timing, peak memory). Its
Markdown tables come from ``reporting.bench_tables``, which reads the results as plain dicts."""

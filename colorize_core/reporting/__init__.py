"""Stage 6, reporting: figures, comparison tables, the suite's profiles, the papermill suite and
the report index it writes."""

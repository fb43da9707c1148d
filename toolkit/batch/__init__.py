"""Batch audit of files: readers, parallel resumable runner, Excel/HTML/CSV reports."""

from toolkit.batch.readers import DEFAULT_COLUMNS, CaseInput, iter_cases, load_column_map
from toolkit.batch.runner import BatchOptions, BatchSummary, run_batch

__all__ = [
    "DEFAULT_COLUMNS",
    "BatchOptions",
    "BatchSummary",
    "CaseInput",
    "iter_cases",
    "load_column_map",
    "run_batch",
]

"""Curated training datasets from recorded runs.

    export.py      export_dataset (the whole pass), pending_good_runs (the loop's trigger)
    select.py      best-first streaming selection: thresholds, exact and near dedup, cluster cap
    rehearsal.py   earlier datasets' examples mixed back in
    formats.py     run → conversation → messages | alpaca | completion line
    tools.py       tool runs: calls checked, failed calls found, OpenAI-form trajectory, long ones fitted
    tool_rows.py   a tool run's {messages, tools} line, per-tool counts for the manifest
    split.py       train / validation by a hash of the run id
    publish.py     temp dir, sha256, manifest, atomic rename, then the store row
    similarity.py  how alike two outputs are

A dataset is a directory ``<home>/datasets/<version>/`` with ``train.jsonl``, ``val.jsonl``
and ``manifest.json``, and a row in the store (``store.datasets``).
"""

from edgelearn.curate.export import effective_settings, export_dataset, pending_by_role, pending_good_runs
from edgelearn.curate.formats import FORMATS
from edgelearn.store.datasets import Dataset

DatasetInfo = Dataset  # the name the loop's brief uses

__all__ = ["Dataset", "DatasetInfo", "FORMATS", "effective_settings", "export_dataset", "pending_by_role",
           "pending_good_runs"]

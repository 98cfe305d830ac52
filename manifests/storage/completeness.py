"""What is finished: the one place that decides whether a shard is committed and whether a dataset is
complete.

A shard is committed for a build when its marker (`_commit/<shard>.json`) carries that build's
fingerprint and the stored shard has exactly the marker's size and sha256. A dataset is complete when its
card exists (the card is written last); it is incomplete when it holds shards or commit markers but no
card; otherwise there is no dataset there.
"""

from __future__ import annotations

import json

from .. import layout
from .store import Store
from .urls import join

COMPLETE, INCOMPLETE, ABSENT = "complete", "incomplete", "absent"


def committed_marker(store: Store, shard: str, fingerprint: str) -> dict | None:
    """The marker of `shard` if the shard is committed for the build `fingerprint`, else None."""
    try:
        marker = json.loads(store.read_bytes(layout.marker_name(shard)))
    except (FileNotFoundError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("fingerprint") != fingerprint:
        return None
    row = marker.get("shard", {})
    return marker if store.matches(shard, row.get("bytes"), row.get("sha256")) else None


def dataset_state(fs, path: str) -> str:
    """COMPLETE, INCOMPLETE or ABSENT for the dataset folder `path` of filesystem `fs`."""
    if fs.exists(join(path, layout.CARD)):
        return COMPLETE
    if not fs.isdir(path):
        return ABSENT
    names = [entry.rstrip("/").rsplit("/", 1)[-1] for entry in fs.ls(path, detail=False)]
    started = any(n.endswith(".tar") or n == layout.COMMIT_DIR for n in names)
    return INCOMPLETE if started else ABSENT


def datasets_under(fs, path: str) -> dict[str, str]:
    """{folder name: COMPLETE or INCOMPLETE} for the datasets directly under `path` (a build's --out)."""
    found = {}
    for entry in sorted(fs.ls(path, detail=False)) if fs.isdir(path) else []:
        name = entry.rstrip("/").rsplit("/", 1)[-1]
        if name.startswith("."):
            continue
        state = dataset_state(fs, join(path, name))
        if state != ABSENT:
            found[name] = state
    return found

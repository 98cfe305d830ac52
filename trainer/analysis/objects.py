"""The factory's per-video object statistics, read from each sample's JSON member (`latents` summary:
object count and min/median/max of radius, speed, acceleration, rotation). Sets without them (ingested
real video, the built-in reference, whole-frame StyleGAN videos) report nothing here."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

COLUMNS = ("obj_count", "obj_radius_median", "obj_speed_median", "obj_accel_absmax", "obj_rotation_absmax")


def _triple(summary: dict, name: str):
    v = summary.get(f"{name}_min_median_max")
    if isinstance(v, (list, tuple)) and len(v) == 3 and all(isinstance(x, (int, float)) for x in v):
        return [float(x) for x in v]
    return None


def video_objects(meta: dict | None) -> dict[str, float] | None:
    """One video's object numbers, or None when its JSON carries no usable latents summary."""
    summary = (meta or {}).get("latents")
    if not isinstance(summary, dict) or not isinstance(summary.get("objects"), (int, float)):
        return None
    if summary["objects"] <= 0:
        return None
    out = {"obj_count": float(summary["objects"])}
    for name, col, pick in (("radius", "obj_radius_median", lambda t: t[1]),
                            ("speed", "obj_speed_median", lambda t: t[1]),
                            ("acceleration", "obj_accel_absmax", lambda t: max(abs(t[0]), abs(t[2]))),
                            ("rotation", "obj_rotation_absmax", lambda t: max(abs(t[0]), abs(t[2])))):
        t = _triple(summary, name)
        out[col] = pick(t) if t else float("nan")
    return out


@dataclass
class ObjectAccumulator:
    """Means over videos of each video's number (median radius and speed, largest |acceleration| and
    |rotation rate|, object count)."""

    rows: list = field(default_factory=list)

    def add(self, meta: dict | None) -> None:
        row = video_objects(meta)
        if row is not None:
            self.rows.append(row)

    def summary(self) -> dict[str, float]:
        if not self.rows:
            return {c: float("nan") for c in COLUMNS} | {"obj_videos": 0}
        return {c: float(np.nanmean([r[c] for r in self.rows])) if any(np.isfinite(r[c]) for r in self.rows)
                else float("nan") for c in COLUMNS} | {"obj_videos": len(self.rows)}

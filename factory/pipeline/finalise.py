"""Stage 3 of a build: merge a finished dataset's commit markers into its manifests, then write its card:
the last file of a complete dataset. Then tidy up and log (outside the dataset's bytes)."""

from __future__ import annotations

import hashlib
import json
import socket
import time

from synthvid.manifests import layout
from synthvid.manifests.schema import SAMPLE_SCHEMA, SHARD_SCHEMA, rows_to_parquet_bytes

from .jobs import json_bytes
from .plan import DatasetPlan
from .versions import code_version



def finalise(plan: DatasetPlan, started: float, workers: int | None) -> dict:
    """Manifests, card, temp clean-up and the build log of one dataset whose shards are all committed."""
    markers = [plan.markers[i] for i in range(plan.job.num_shards)]
    samples_pq = rows_to_parquet_bytes([row for m in markers for row in m["samples"]], SAMPLE_SCHEMA, "key")
    shards_pq = rows_to_parquet_bytes([m["shard"] for m in markers], SHARD_SCHEMA, "name")
    plan.store.put_bytes(layout.SAMPLES_MANIFEST, samples_pq)
    plan.store.put_bytes(layout.SHARDS_MANIFEST, shards_pq)
    card = _card(plan, markers, {layout.SAMPLES_MANIFEST: hashlib.sha256(samples_pq).hexdigest(),
                                 layout.SHARDS_MANIFEST: hashlib.sha256(shards_pq).hexdigest()})
    plan.store.put_bytes(layout.CARD, json_bytes(card))
    result = plan.result
    result.card, result.seconds = card, time.time() - started
    plan.store.cleanup_temp()
    plan.store.append_text(layout.BUILD_LOG, json.dumps({
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "host": socket.gethostname(),
        "seconds": round(result.seconds, 3), "shards_built": result.shards_built,
        "shards_kept": result.shards_kept, "workers": workers}) + "\n")
    return card


def _card(plan: DatasetPlan, markers: list[dict], manifests: dict) -> dict:
    job = plan.job
    samples = [row for m in markers for row in m["samples"]]
    shards = [m["shard"] for m in markers]
    return {
        "schema_version": layout.SCHEMA_VERSION,
        "variant": job.name,
        "description": job.source.description,
        "paper_ucf101_ft": None,             # the paper's UCF101 fine-tune figure where a variant has one
        **job.config(),
        # provenance: the exact commit that wrote this card. The resume identity (fingerprint) holds the
        # release version instead, so a rebuilt checkout can finish a build without --overwrite.
        "code_version": code_version(),
        "fingerprint": plan.fingerprint,
        "payload_choice": job.payload_choice,
        "quality": quality(samples),
        "sample_members": [name.split(".", 1)[1] for name in samples[0]["members"]] if samples else [],
        "totals": {"videos": len(samples), "shards": len(shards), "frames": sum(r["frames"] for r in samples),
                   "bytes": sum(s["bytes"] for s in shards)},
        "manifests": manifests,
        **_skipped(markers),
        **job.source.card_extra(),
    }


def _skipped(markers: list[dict]) -> dict:
    """The card's `skipped` entry: items the source could not produce (unreadable videos), by key with the
    reason. Only present when there are some (synthetic sets never skip)."""
    skipped = [item for m in markers for item in m["shard"].get("skipped", ())]
    return {"skipped": {"count": len(skipped), "items": skipped}} if skipped else {}

def quality(rows: list[dict]) -> dict:
    """Every video's PSNR against its lossless render (the manifest's `psnr_db`), summarised; a lossless
    payload says so."""
    values = sorted(r["psnr_db"] for r in rows if r.get("psnr_db") is not None)
    if not values:
        return {"lossless": True}
    return {"lossless": False, "videos": len(values), "psnr_db_min": values[0],
            "psnr_db_median": values[len(values) // 2], "psnr_db_mean": round(sum(values) / len(values), 3)}

"""The analysis end to end: open every input (failing fast on a bad one), stream each set's sample once,
compute the metrics against the reference, correlate them with accuracy, write the report."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from .collect import Nets, SetStats, collect
from .correlate import correlations, load_accuracy
from .errors import AnalysisError
from .features import build_net
from .metrics import METRICS, set_row
from .options import BUILTIN_REFERENCE, NO_REFERENCE, AnalysisOptions
from .report import write_report
from .videosets import ShardVideoSet



@dataclass
class AnalysisResult:
    rows: list[dict]            # the reference first (role "reference"), then one per dataset
    correlations: list[dict]
    report: Path
    seconds: float


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AnalysisError(f"--device {name}: no CUDA device here; use --device cpu")
    return torch.device(name)


def open_reference(opts: AnalysisOptions):
    if opts.reference == NO_REFERENCE:
        return None
    if opts.reference == BUILTIN_REFERENCE:
        from .reference import build_reference

        return build_reference()
    return ShardVideoSet(opts.reference, opts.storage_options)


def _unique_names(sets) -> None:
    seen: dict[str, int] = {}
    for s in sets:
        seen[s.name] = seen.get(s.name, 0) + 1
        if seen[s.name] > 1:
            s.name = f"{s.name}#{seen[s.name]}"


def build_nets(opts: AnalysisOptions, device: torch.device) -> Nets:
    frame_spec, clip_spec = opts.feature_roles()
    made = {}
    for spec in dict.fromkeys(s for s in (frame_spec, clip_spec) if s is not None):   # one net per spec
        made[spec] = build_net(spec, device, opts.batch, opts.frames, opts.seed)
    return Nets(frames=made.get(frame_spec), clips=made.get(clip_spec))


def _run_facts(opts, sets, ref: SetStats | None, nets: Nets, accuracy_source: str, seconds: float) -> dict:
    spec = opts.sample_spec()
    missing = "none given (--features): not computed"
    return {
        "datasets": ", ".join(s.name for s in sets),
        "reference": f"{ref.description} — sampled {ref.videos} videos, {ref.frames} frames" if ref else
                     "none (--reference none): distances not computed",
        "ref_videos": ref.videos if ref else 0, "ref_frames": ref.frames if ref else 0,
        "frame_features": nets.frames.description if nets.frames else missing,
        "clip_features": nets.clips.description if nets.clips else missing,
        "sample": f"up to {spec.videos} videos per set (seed {spec.seed}), {spec.frames} frames each at stride "
                  f"{spec.stride}, optical flow on {spec.flow_pairs} of them",
        "accuracy": accuracy_source or "none",
        "accuracy_label": "UCF101 fine-tune top-1 %" if opts.accuracy == "paper" else
                          ("accuracy" if accuracy_source else ""),
        "time": f"{seconds:.1f} s",
    }


def analyze(opts: AnalysisOptions) -> AnalysisResult:
    start = time.perf_counter()
    sets = [ShardVideoSet(url, opts.storage_options) for url in opts.datasets]
    _unique_names(sets)
    accuracy, accuracy_source = load_accuracy(opts.accuracy)
    reference = open_reference(opts)
    nets = build_nets(opts, _device(opts.device))
    spec = opts.sample_spec()
    ref_stats = collect(reference, spec, nets, opts.progress, opts.batch) if reference is not None else None
    stats = [collect(s, spec, nets, opts.progress, opts.batch) for s in sets]
    rows = ([set_row(ref_stats, None, nets, role="reference")] if ref_stats else [])
    rows += [set_row(s, ref_stats, nets) for s in stats]
    corr = correlations(rows, accuracy)
    seconds = time.perf_counter() - start
    run = _run_facts(opts, sets, ref_stats, nets, accuracy_source, seconds)
    all_stats = ([ref_stats] if ref_stats else []) + stats
    page = write_report(opts.out, run, rows, corr, all_stats, {"options": opts.to_dict(), "run": run})
    return AnalysisResult(rows, corr, page, seconds)


def format_table(rows: list[dict]) -> str:
    """The metrics as a fixed-width text table for the terminal."""
    cols = ["dataset", "videos", "frames", *METRICS]
    width = {c: max(len(c), *(len(_cell(r[c])) for r in rows)) for c in cols}
    lines = ["  ".join(c.rjust(width[c]) if c != "dataset" else c.ljust(width[c]) for c in cols)]
    for r in rows:
        lines.append("  ".join(_cell(r[c]).rjust(width[c]) if c != "dataset" else _cell(r[c]).ljust(width[c])
                               for c in cols))
    return "\n".join(lines)


def _cell(v) -> str:
    if isinstance(v, float):
        return "-" if v != v else f"{v:.4g}"
    return str(v)

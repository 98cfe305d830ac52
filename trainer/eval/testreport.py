"""The report folder of `synthvid-train test`:

    results.csv       one row per checkpoint x set: top-1, top-5, videos, views per video, skipped videos
    per_class.csv     one row per checkpoint x set x class
    robustness.csv    UCF101-P: one row per checkpoint x corruption x severity, with relative robustness
    robustness.png    UCF101-P: the paper's Fig 3 from these runs
    summary.md        the headline numbers (and summary.html, the same self-contained, the figure inline)
    config.json       what was tested, how, and with which software

Every file is written whole or not at all (manifests.storage.open_atomic).
"""

from __future__ import annotations

import base64
import csv
import html
import io
import os
import platform

import numpy as np
import torch

from synthvid.manifests.storage import open_atomic

from ..runlog import write_config
from .robustness import cells, figure_png, label, mean_relative, order


def _csv(path: str, rows: list[dict]) -> None:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows({k: (f"{v:.6g}" if isinstance(v, float) else ("" if v is None else v)) for k, v in r.items()}
                    for r in rows)
    with open_atomic(path, "w") as f:
        f.write(buf.getvalue())


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.1f}"


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def summary_tables(results, table, checkpoints: list[str]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of the summary: clean results, then UCF101-P per corruption (mean over the
    severities tested) with each checkpoint's mean relative robustness."""
    out = [("Accuracy per set (top-1 / top-5 %)", ["checkpoint", "set", "corruption", "videos", "top-1", "top-5"],
            [[r.checkpoint, os.path.basename(r.data.rstrip("/")), f"{r.corruption} {r.severity}" if r.corruption
              else "clean", str(r.accuracy.videos), _pct(r.accuracy.top1), _pct(r.accuracy.top5)] for r in results])]
    if table:
        names = order(c.corruption for c in table)
        rows = []
        for ck in checkpoints:
            mine = [c for c in table if c.checkpoint == ck]
            clean = next((c.clean for c in mine if c.clean is not None), None)
            means = [np.mean([c.top1 for c in mine if c.corruption == n]) if any(c.corruption == n for c in mine)
                     else None for n in names]
            mr = mean_relative(table, ck)
            rows.append([ck, _pct(clean)] + [_pct(m) for m in means] + ["–" if mr is None else f"{mr:.3f}"])
        out.append(("UCF101-P top-1 % per corruption (mean over severities tested)",
                    ["checkpoint", "original"] + [label(n) for n in names] + ["mean rel. robustness"], rows))
    return out


def _html(tables, png: bytes | None) -> str:
    parts = ["<!doctype html><meta charset='utf-8'><title>synthvid-train test</title>",
             "<style>body{font:14px system-ui,sans-serif;margin:2em auto;max-width:1100px}table{border-collapse:"
             "collapse;margin:1em 0;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
             "td:first-child{text-align:left}</style>", "<h1>synthvid-train test</h1>"]
    for title, header, rows in tables:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
        parts.append(f"<h2>{html.escape(title)}</h2><table><tr>{head}</tr>{body}</table>")
    if png is not None:
        parts.append(f"<img alt='UCF101-P, paper Fig 3' src='data:image/png;base64,{base64.b64encode(png).decode()}'>")
    return "\n".join(parts) + "\n"


def write_report(out: str, results, tested, facts: dict) -> None:
    os.makedirs(out, exist_ok=True)
    checkpoints = [t.name for t in tested]
    _csv(os.path.join(out, "results.csv"), [r.row() for r in results])
    _csv(os.path.join(out, "per_class.csv"),
         [{"checkpoint": r.checkpoint, "data": r.data, "corruption": r.corruption, "severity": r.severity,
           "class": c.name, "correct": c.correct, "videos": c.total, "top1": c.accuracy}
          for r in results for c in r.accuracy.per_class])
    table = cells(results)
    png = None
    if table:
        _csv(os.path.join(out, "robustness.csv"), [c.row() for c in table])
        png = figure_png(table, checkpoints)
        with open_atomic(os.path.join(out, "robustness.png")) as f:
            f.write(png)
    tables = summary_tables(results, table, checkpoints)
    md = ["# synthvid-train test", ""] + [f"## {t}\n\n{_md_table(h, rows)}\n" for t, h, rows in tables]
    if png is not None:
        md.append("![UCF101-P, paper Fig 3](robustness.png)\n")
    with open_atomic(os.path.join(out, "summary.md"), "w") as f:
        f.write("\n".join(md))
    with open_atomic(os.path.join(out, "summary.html"), "w") as f:
        f.write(_html(tables, png))
    config = {"checkpoints": [{"name": t.name, "path": t.path, "layout": t.layout, "head": t.model.head_cfg.kind,
                               "classes": list(t.classes) if t.classes else t.model.head_cfg.num_classes,
                               "model_config": t.model.cfg.to_dict()} for t in tested],
              "results": [r.row() for r in results], **facts,
              "versions": {"python": platform.python_version(), "torch": torch.__version__}}
    write_config(out, config)

"""Write an analysis' outputs into one folder:

    metrics.parquet, metrics.csv    one row per set (the reference first), every metric and its sample sizes
    correlations.csv                metric, Pearson r, n, the paper's r
    plots/<metric>.png              accuracy against each metric (with an accuracy table), plots/spectra.png
    report.html                     everything above in one self-contained page
    config.json                     the options of the run (storage option names only, never values)
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from synthvid.manifests.storage import atomic_local_write

from . import html, plots


def _table_bytes(rows: list[dict]) -> tuple[bytes, bytes]:
    table = pa.Table.from_pylist(rows)
    pbuf, cbuf = io.BytesIO(), io.BytesIO()
    pq.write_table(table, pbuf, compression="zstd")
    pacsv.write_csv(table, cbuf)
    return pbuf.getvalue(), cbuf.getvalue()


def make_plots(stats: list, rows: list[dict], corr: list[dict], accuracy_label: str) -> list[tuple[str, bytes, str]]:
    out = []
    if accuracy_label:
        for entry in corr:
            if entry["n"]:
                out.append((entry["metric"], plots.scatter_png(entry, accuracy_label),
                            f"{entry['title']} against {accuracy_label}"))
    alphas = {r["dataset"]: r["spectrum_alpha"] for r in rows}
    curves = [(s.name, *s.spectrum.curve(), alphas.get(s.name, math.nan)) for s in stats]
    out.append(("spectra", plots.spectra_png(curves), "radially averaged amplitude spectra"))
    return out


def write_report(out: str | Path, run: dict, rows: list[dict], corr: list[dict], stats: list,
                 config: dict) -> Path:
    out = Path(out)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    parquet, csv_bytes = _table_bytes(rows)
    atomic_local_write(str(out / "metrics.parquet"), parquet)
    atomic_local_write(str(out / "metrics.csv"), csv_bytes)
    corr_rows = [{k: c[k] for k in ("metric", "r", "n", "paper_r")} for c in corr]
    atomic_local_write(str(out / "correlations.csv"), _table_bytes(corr_rows)[1] if corr_rows else b"")
    figures = make_plots(stats, rows, corr, run["accuracy_label"])
    for name, png, _ in figures:
        atomic_local_write(str(out / "plots" / f"{name}.png"), png)
    page = out / "report.html"
    atomic_local_write(str(page), html.render(run, rows, corr, figures).encode("utf-8"))
    atomic_local_write(str(out / "config.json"), (json.dumps(config, indent=2, sort_keys=True) + "\n").encode())
    return page

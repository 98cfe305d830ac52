"""The single self-contained HTML report: tables, method notes and every plot inline as a data: URI.

Nothing loads from the network. A small inline script checks, once the page has loaded, that every plot
decoded (naturalWidth > 0), captions any that did not, and records the count in #render-check, which the
headless-browser test reads.
"""

from __future__ import annotations

import base64
import html
import math

from .gaussians import COLOUR_EPS, DIVERSITY_EPS
from .motion import FARNEBACK, STATIC_FRACTION, STATIC_LEVEL
from .spectrum import BINS, F_HI, F_LO

TABLE_COLUMNS = ("dataset", "role", "videos", "frames", "fid", "fvd", "diversity_logdet", "colour_kl",
                 "spectrum_alpha", "lab_L", "lab_a", "lab_b", "flow_mean", "static_share", "obj_count",
                 "obj_speed_median", "obj_radius_median")

_CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#1a202c}
table{border-collapse:collapse;margin:1em 0;font-size:12px}th,td{border:1px solid #cbd5e0;padding:3px 6px;
text-align:right}th{background:#edf2f7}td.t{text-align:left;white-space:nowrap}.plots{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0}figcaption{font-size:11px;color:#4a5568}.bad{color:#c53030;font-weight:bold}
code{background:#f7fafc;padding:0 3px}.wide{overflow-x:auto}"""

_SCRIPT = """window.addEventListener('load', function () {
  var imgs = document.querySelectorAll('img.plot'), ok = 0;
  imgs.forEach(function (img) {
    if (img.complete && img.naturalWidth > 0) { ok += 1; return; }
    var note = document.createElement('div'); note.className = 'bad';
    note.textContent = 'this plot failed to load'; img.after(note);
  });
  var mark = document.getElementById('render-check');
  mark.setAttribute('data-plots', imgs.length); mark.setAttribute('data-decoded', ok);
  mark.textContent = ok + ' of ' + imgs.length + ' plots decoded';
});"""


def _fmt(value) -> str:
    if isinstance(value, float):
        return "—" if not math.isfinite(value) else f"{value:.4g}"
    return html.escape(str(value))


def _table(rows: list[dict], columns, table_id: str) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td class='{'t' if isinstance(r.get(c), str) else ''}'>{_fmt(r.get(c, ''))}</td>"
                         for c in columns) + "</tr>" for r in rows)
    return f"<table id='{table_id}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(name: str, png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f"<figure><img class='plot' alt='{html.escape(name)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _facts(run: dict) -> str:
    items = [("datasets", run["datasets"]), ("reference", run["reference"]),
             ("frame features (FID, diversity)", run["frame_features"]),
             ("clip features (FVD)", run["clip_features"]), ("sample", run["sample"]),
             ("accuracy", run["accuracy"]), ("time", run["time"])]
    return "<ul>" + "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in items) + "</ul>"


def _methods() -> str:
    flow = ", ".join(f"{k}={v}" for k, v in FARNEBACK.items())
    notes = [
        f"Spectrum: luminance minus its mean, 2-D Hann window, |FFT| averaged in {BINS} log-spaced bins over "
        f"{F_LO}-{F_HI} cycles/pixel (DC and the band near Nyquist excluded), averaged over frames; alpha = "
        "minus the least-squares slope of log amplitude on log frequency.",
        "Colour: OpenCV COLOR_RGB2Lab on float RGB (sRGB, D65); a 3-D Gaussian of all sampled pixels; "
        f"symmetric KL = KL(P||Q) + KL(Q||P), covariances + {COLOUR_EPS} I.",
        f"Diversity: log det(covariance of all sampled frames' features + {DIVERSITY_EPS} I).",
        "FID / FVD: Frechet distance between Gaussians of frame / clip features of a set and the reference; "
        "the feature network of each is named above and in the table's feature columns.",
        f"Motion: OpenCV Farneback ({flow}) between a frame and its successor, mean |flow| in px/frame; a frame "
        f"is static when at most {STATIC_FRACTION:.2%} of its pixels differ from its successor by more than "
        f"{STATIC_LEVEL} grey levels.",
        "Objects: means over sampled videos of the factory's per-video latent summaries (sample JSON).",
    ]
    return "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"


def render(run: dict, rows: list[dict], corr: list[dict], plots: list[tuple[str, bytes, str]]) -> str:
    corr_rows = [{"metric": c["metric"], "r": c["r"], "n": c["n"],
                  "paper r": c["paper_r"] if c["paper_r"] is not None else math.nan} for c in corr]
    labels = {r["frame_features"] for r in rows if r["frame_features"]} or {"none"}
    clip_labels = {r["clip_features"] for r in rows if r["clip_features"]} or {"none"}
    rests = ("Each number rests on the sampled <b>videos</b> and <b>frames</b> of its row (FVD on one clip per "
             "video, flow on the row's flow_pairs pairs) and, for distances, on the reference's "
             f"{run['ref_videos']} videos / {run['ref_frames']} frames. fid and diversity_logdet use the "
             f"features <code>{html.escape(', '.join(sorted(labels)))}</code>, fvd "
             f"<code>{html.escape(', '.join(sorted(clip_labels)))}</code>.")
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>synthvid dataset analysis</title>", f"<style>{_CSS}</style></head><body>",
        "<h1>synthvid dataset analysis</h1>", _facts(run),
        "<h2>Metrics</h2><div class='wide'>", _table(rows, TABLE_COLUMNS, "metrics"), f"</div><p>{rests}</p>",
        "<h2>Correlation with downstream accuracy</h2>",
        _table(corr_rows, ("metric", "r", "n", "paper r"), "correlations") if run["accuracy"] != "none"
        else "<p>No accuracy table (--accuracy none).</p>",
        "<h2>Plots</h2><div class='plots'>", *(_img(n, png, cap) for n, png, cap in plots), "</div>",
        "<p id='render-check'>plots not checked (scripts disabled)</p>",
        "<h2>Method</h2>", _methods(), f"<script>{_SCRIPT}</script></body></html>",
    ]
    return "\n".join(parts)

"""Dataset analysis end to end on tiny shard sets built by the factory CLI: determinism, local and s3://
reading, the outputs, the HTML report as rendered by headless Chromium, the CLI's one-line errors."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from synthvid.trainer.analysis import AnalysisOptions, analyze, cli
from synthvid.trainer.analysis.correlate import load_accuracy, parse_accuracy, pearson
from synthvid.trainer.analysis.errors import AnalysisError
from synthvid.trainer.analysis.videosets import ShardVideoSet

VARIANTS = ("moving-shapes", "static-circles", "moving-circles")
TINY = "random:vit_tiny_test:32"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("analysis-sets")
    factory = Path(sys.executable).with_name("synthvid-factory")
    subprocess.run([str(factory), "build", *VARIANTS, "--out", str(out), "--videos", "4", "--size", "64",
                    "--frames", "20-30", "--workers", "1", "--no-progress"], check=True, capture_output=True,
                   timeout=600)
    return out


def _options(built: Path, out: Path, **kw) -> AnalysisOptions:
    base = dict(datasets=tuple(str(built / v) for v in VARIANTS[:2]), out=str(out), reference="none",
                accuracy="none", features=(TINY,), videos=3, frames=8, stride=2, flow_pairs=2, progress=False)
    return AnalysisOptions(**{**base, **kw})


def _numbers(rows) -> list[dict]:
    return [{k: v for k, v in r.items() if isinstance(v, (int, float))} for r in rows]


def _same(a: list[dict], b: list[dict]) -> bool:
    return all(set(x) == set(y) and all((x[k] == y[k]) or (math.isnan(x[k]) and math.isnan(y[k])) for k in x)
               for x, y in zip(a, b)) and len(a) == len(b)


@pytest.fixture(scope="module")
def local_run(built, tmp_path_factory):
    """moving-shapes and static-circles against moving-shapes as the reference, read from local folders."""
    out = tmp_path_factory.mktemp("analysis-local")
    return analyze(_options(built, out, reference=str(built / VARIANTS[0]))), out


def test_analysis_is_deterministic_and_a_set_is_at_distance_zero_from_itself(built, local_run, tmp_path):
    first, first_out = local_run
    second = analyze(_options(built, tmp_path / "b", reference=str(built / VARIANTS[0])))
    assert _same(_numbers(first.rows), _numbers(second.rows))
    assert (first_out / "metrics.csv").read_bytes() == (tmp_path / "b" / "metrics.csv").read_bytes()
    ref, own, circles = first.rows
    assert ref["role"] == "reference" and (own["dataset"], circles["dataset"]) == ("moving-shapes", "static-circles")
    for metric in ("fid", "fvd", "colour_kl"):
        assert own[metric] == pytest.approx(0.0, abs=1e-6) and circles[metric] > 1e-3
    assert (own["videos"], own["frames"], own["ref_videos"], own["ref_frames"]) == (3, 24, 3, 24)
    assert circles["static_share"] == 1.0 and own["static_share"] == 0.0
    assert circles["flow_mean"] < 0.05 < own["flow_mean"]
    assert own["obj_count"] == 500 and own["obj_videos"] == 3 and 1.2 <= own["obj_speed_median"] <= 3.0
    assert own["frame_features"] == own["clip_features"] == "videomae-random:vit_tiny_test:32"
    assert np.isfinite(own["diversity_logdet"]) and np.isfinite(own["spectrum_alpha"])


def test_reads_s3_shard_sets_with_the_same_numbers_as_local(built, local_run, tmp_path, s3_server, s3_url):
    fs = s3_server.fs()
    urls = []
    for v in VARIANTS[:2]:
        fs.put(str(built / v), f"{s3_url}/{v}", recursive=True)
        urls.append(f"{s3_url}/{v}")
    remote = analyze(_options(built, tmp_path / "s3", datasets=tuple(urls), reference=urls[0],
                              storage_options=s3_server.storage_options()))
    assert _same(_numbers(remote.rows), _numbers(local_run[0].rows))
    assert remote.rows[1]["source"].startswith("s3://")
    config = (tmp_path / "s3" / "config.json").read_text()
    assert s3_server.secret_key not in config and s3_server.access_key not in config


class _Page(HTMLParser):
    """What the rendered DOM holds: the render-check marker, plot images, metrics table rows."""

    def __init__(self):
        super().__init__()
        self.check: dict = {}
        self.plots = 0
        self.table = None
        self.rows: list[list[str]] = []
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.external += [v for k, v in attrs if k in ("src", "href") and v and not v.startswith("data:")]
        if a.get("id") == "render-check":
            self.check = a
        if tag == "img" and "plot" in (a.get("class") or ""):
            self.plots += 1
        if tag == "table":
            self.table = a.get("id")
        if tag == "tr" and self.table == "metrics":
            self.rows.append([])

    def handle_data(self, data):
        if self.table == "metrics" and self.rows and data.strip():
            self.rows[-1].append(data.strip())

    def handle_endtag(self, tag):
        if tag == "table":
            self.table = None


def _render(page: Path, tmp_path: Path) -> str:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's `chromium` is not installed (apt-get install -y chromium; .ci/run does this)")
    proc = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium'}", "--dump-dom",
                           page.as_uri()], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_report_with_builtin_reference_and_paper_accuracy_renders_in_headless_chromium(built, tmp_path):
    out = tmp_path / "report"
    result = analyze(_options(built, out, datasets=tuple(str(built / v) for v in VARIANTS), reference="builtin",
                              accuracy="paper"))
    assert [r["dataset"] for r in result.rows] == ["builtin-natural", *VARIANTS]
    ref = result.rows[0]
    assert ref["videos"] == 3 and ref["frames"] == 24 and 0.5 <= ref["spectrum_alpha"] <= 2.0
    fid = next(c for c in result.correlations if c["metric"] == "fid")
    accuracy = load_accuracy("paper")[0]
    xs = [r["fid"] for r in result.rows[1:]]
    assert fid["n"] == 3 and fid["r"] == pytest.approx(pearson(xs, [accuracy[v] for v in VARIANTS]))
    table = pq.read_table(out / "metrics.parquet").to_pylist()
    assert [r["dataset"] for r in table] == [r["dataset"] for r in result.rows]
    pngs = sorted(p.name for p in (out / "plots").glob("*.png"))
    assert "fid.png" in pngs and "spectra.png" in pngs

    page = _Page()
    page.feed(_render(result.report, tmp_path))
    assert page.plots == len(pngs) > 0
    assert page.check.get("data-plots") == str(len(pngs)) and page.check.get("data-decoded") == str(len(pngs))
    assert [row[0] for row in page.rows[1:]] == [r["dataset"] for r in result.rows]   # header, then one per set
    assert page.external == []                                                        # self-contained


def test_a_broken_plot_is_caught_by_the_render_check(built, tmp_path):
    # the check the test above relies on must be able to fail: corrupt one image's data and render again
    out = tmp_path / "r"
    result = analyze(_options(built, out, datasets=(str(built / VARIANTS[0]),), features=()))
    text = result.report.read_text().replace("data:image/png;base64,iVBOR", "data:image/png;base64,AAAA", 1)
    broken = tmp_path / "broken.html"
    broken.write_text(text)
    page = _Page()
    page.feed(_render(broken, tmp_path))
    assert page.check["data-plots"] == "1" and page.check["data-decoded"] == "0"


def test_without_features_or_reference_the_other_metrics_are_still_computed(built, tmp_path):
    result = analyze(_options(built, tmp_path / "o", features=(), accuracy="none"))
    row = result.rows[0]
    assert all(math.isnan(row[m]) for m in ("fid", "fvd", "diversity_logdet", "colour_kl"))
    assert np.isfinite(row["spectrum_alpha"]) and np.isfinite(row["flow_mean"])
    assert row["frame_features"] == "" and row["reference"] == ""
    assert "not computed" in result.report.read_text()


def test_cli_prints_the_table_and_one_line_errors(built, tmp_path, capsys):
    rc = cli.main(["analyze", str(built / "moving-shapes"), "--out", str(tmp_path / "c"), "--reference", "none",
                   "--videos", "2", "--frames", "4", "--flow-pairs", "1", "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0 and "moving-shapes" in out and "report" in out
    assert cli.main(["analyze", str(tmp_path / "absent"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(tmp_path / "absent") in err[0]
    assert cli.main(["analyze", str(built / "moving-shapes"), "--out", str(tmp_path / "x"),
                     "--features", "nope:1"]) == 2
    assert "--features" in capsys.readouterr().err


def test_a_truncated_shard_is_one_line_naming_the_shard(built, tmp_path):
    copy = tmp_path / "moving-shapes"
    shutil.copytree(built / "moving-shapes", copy)
    shard = next(copy.glob("*.tar"))
    shard.write_bytes(shard.read_bytes()[:30000])
    vset = ShardVideoSet(str(copy))
    with pytest.raises(AnalysisError, match=shard.name) as info:
        list(vset.read([e.index for e in vset.entries()]))
    assert "\n" not in str(info.value)


def test_accuracy_tables(built, tmp_path):
    paper, source = load_accuracy("paper")
    assert len(paper) == 28 and "spec/variants.md" in source
    for v in VARIANTS:   # the data file agrees with the number the factory writes into each card
        assert paper[v] == json.loads((built / v / "card.json").read_text())["paper_ucf101_ft"]
    assert parse_accuracy("variant,accuracy,note\na,1.5,x\nb,2\n", "t") == {"a": 1.5, "b": 2.0}
    for bad, msg in (("name,acc\na,1\n", "header"), ("variant,accuracy\na,x\n", "not a number"),
                     ("variant,accuracy\na,1\na,2\n", "twice")):
        with pytest.raises(AnalysisError, match=msg):
            parse_accuracy(bad, "t")
    with pytest.raises(AnalysisError, match="cannot read"):
        load_accuracy(str(tmp_path / "missing.csv"))
    custom = tmp_path / "results.csv"
    custom.write_text("variant,accuracy\nmoving-shapes,70\nstatic-circles,50\nmoving-circles,60\n")
    result = analyze(_options(built, tmp_path / "acc", datasets=tuple(str(built / v) for v in VARIANTS),
                              features=(), accuracy=str(custom)))
    flow = next(c for c in result.correlations if c["metric"] == "flow_mean")
    assert flow["n"] == 3 and flow["r"] == pytest.approx(pearson([r["flow_mean"] for r in result.rows], [70, 50, 60]))
    assert os.path.exists(tmp_path / "acc" / "plots" / "flow_mean.png")

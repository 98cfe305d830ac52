"""`synthvid-train`: VideoMAE pretraining from published shards or procedural sources.

    synthvid-train pretrain --data ./out/accelerating-shapes --model vit_base --epochs 3200 --batch-size 192 --out runs/x
    torchrun --nproc-per-node 8 --no-python synthvid-train pretrain ...      # --batch-size stays global
    synthvid-train pretrain ... --resume runs/x                               # continue where it stopped
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from .model import PRESETS


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="synthvid-train", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("pretrain", help="VideoMAE pretraining", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    d = t.add_argument_group("data")
    d.add_argument("--data", action="append", required=True,
                   help="a published variant (folder or fsspec URL) or procedural:<variant>; repeat for a mixture")
    d.add_argument("--weights", type=_floats, default=None, help="mixture weights, one per --data, e.g. 0.75,0.25")
    d.add_argument("--epoch-size", type=int, default=None,
                   help="samples per epoch (default: the sources' size; 9537 for procedural sources)")
    d.add_argument("--num-frames", type=int, default=16)
    d.add_argument("--sampling-rate", type=int, default=4)
    d.add_argument("--workers", type=int, default=4, help="DataLoader workers per rank")
    d.add_argument("--skip-bad-shards", action="store_true", help="skip and count truncated or corrupt shards")
    d.add_argument("--storage-options", type=json.loads, default=None,
                   help="JSON options for fsspec (e.g. '{\"endpoint_url\": \"http://...\"}')")
    d.add_argument("--procedural-params", type=json.loads, default=None,
                   help="JSON factory parameters for procedural:<variant> sources, e.g. '{\"size\": 128}'")
    d.add_argument("--data-seed", type=int, default=None,
                   help="seed of procedural sources' videos (epoch e uses epoch_seed(data_seed, e)); default --seed")
    m = t.add_argument_group("model")
    m.add_argument("--model", default="vit_base", choices=sorted(PRESETS))
    m.add_argument("--img-size", type=int, default=224)
    m.add_argument("--patch-size", type=int, default=16)
    m.add_argument("--tubelet", type=int, default=2)
    m.add_argument("--mask-ratio", type=float, default=0.75, help="paper 0.75; VideoMAE K400/SSv2 0.9")
    o = t.add_argument_group("optimisation")
    o.add_argument("--epochs", type=int, default=3200)
    o.add_argument("--batch-size", type=int, default=192, help="global batch over all ranks")
    o.add_argument("--accum-steps", type=int, default=1, help="gradient accumulation steps")
    o.add_argument("--base-lr", type=float, default=3e-4, help="lr = base-lr x batch-size / 256")
    o.add_argument("--min-lr", type=float, default=1e-5, help="scaled like --base-lr")
    o.add_argument("--warmup-epochs", type=float, default=40)
    o.add_argument("--weight-decay", type=float, default=0.05)
    o.add_argument("--seed", type=int, default=0)
    r = t.add_argument_group("runtime")
    r.add_argument("--out", required=True, help="run folder: checkpoints, config.json, log.csv, recon/")
    r.add_argument("--device", default="auto", help="auto, cpu, cuda")
    r.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    r.add_argument("--compile", action="store_true", help="torch.compile the model")
    r.add_argument("--compile-backend", default="inductor", help="torch.compile backend")
    r.add_argument("--grad-checkpointing", action="store_true")
    r.add_argument("--save-every", type=int, default=0, help="checkpoint every N steps (and at every epoch end)")
    r.add_argument("--recon-every", type=int, default=0, help="write a reconstruction picture every N steps")
    r.add_argument("--log-every", type=int, default=1)
    r.add_argument("--max-steps", type=int, default=None, help="stop after N optimiser steps in total")
    r.add_argument("--resume", default=None, help="run folder (or checkpoint file) to continue")
    r.add_argument("--eval-data", default=None, help="held-out variant: masked loss vs baseline at each epoch end")
    r.add_argument("--eval-clips", type=int, default=64)
    r.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    r.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from .data import DataError
    from .engine import TrainConfig, TrainError, train

    cfg = TrainConfig(
        data=args.data, out=args.out, weights=args.weights, model=args.model, img_size=args.img_size,
        num_frames=args.num_frames, sampling_rate=args.sampling_rate, patch_size=args.patch_size,
        tubelet=args.tubelet, mask_ratio=args.mask_ratio, epochs=args.epochs, epoch_size=args.epoch_size,
        batch_size=args.batch_size, accum_steps=args.accum_steps, base_lr=args.base_lr, min_lr=args.min_lr,
        warmup_epochs=args.warmup_epochs, weight_decay=args.weight_decay, seed=args.seed, data_seed=args.data_seed,
        workers=args.workers, device=args.device, precision=args.precision, compile=args.compile, compile_backend=args.compile_backend,
        grad_checkpointing=args.grad_checkpointing, save_every=args.save_every, recon_every=args.recon_every,
        log_every=args.log_every, max_steps=args.max_steps, resume=args.resume,
        skip_bad_shards=args.skip_bad_shards, storage_options=args.storage_options,
        procedural_overrides=args.procedural_params, eval_data=args.eval_data,
        eval_clips=args.eval_clips if args.eval_data else 0, progress=args.progress, threads=args.threads)
    try:
        summary = train(cfg)
    except (TrainError, DataError, ValueError) as e:
        from synthvid.manifests.storage import redact

        print(f"synthvid-train: error: {redact(str(e))}", file=sys.stderr)
        return 2
    done = summary["losses"]
    print(f"synthvid-train: {summary['step']} steps, epoch {summary['epoch']}, last loss "
          f"{done[-1] if done else float('nan'):.4f}; short clips {summary['short_clips']}, skipped samples "
          f"{summary['skipped_samples']}, skipped shards {summary['skipped_shards']}; outputs in {cfg.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

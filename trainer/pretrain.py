"""synthvid-train pretrain: arguments to a TrainConfig, the run, and one-line errors."""

from __future__ import annotations

import argparse
import sys

from .cli_format import HelpFormatter, add_runtime_flags, add_shard_flags, floats, key_value, runtime_kwargs
from .data import DECODE_DEVICES, READ_MODES
from .model import PRESETS

DESCRIPTION = """VideoMAE pretraining (the paper's recipe by default) on published shard sets (a folder or any
fsspec URL), on procedural:<variant> sources rendered on the fly, or on a weighted mixture of them. Writes
config.json, log.csv, checkpoint-last.pt and reconstruction pictures into --out."""


def add_parser(subparsers) -> argparse.ArgumentParser:
    t = subparsers.add_parser("pretrain", help="VideoMAE pretraining", description=DESCRIPTION,
                              formatter_class=HelpFormatter)
    d = t.add_argument_group("data")
    d.add_argument("--data", action="append", required=True, metavar="URL",
                   help="a published variant (folder or fsspec URL) or procedural:<variant>; repeat for a mixture")
    d.add_argument("--weights", type=floats, default=None, help="mixture weights, one per --data, e.g. 0.75,0.25")
    d.add_argument("--epoch-size", type=int, default=None,
                   help="samples per epoch (default: one shard set's size; 9537, the paper's dataset size, for a "
                        "procedural source or a mixture of several sources, as the authors' mixtures)")
    d.add_argument("--num-frames", type=int, default=16, help="frames per clip")
    d.add_argument("--sampling-rate", type=int, default=4, help="stride between a clip's frames")
    add_shard_flags(d)
    d.add_argument("--read-mode", default="range", choices=READ_MODES,
                   help="how shard sets are read: range = only the bytes a clip needs (the payload's head and "
                        "~16 frame blocks, by byte range from the manifest's offsets; local or object storage); "
                        "stream = whole shards front to back (every video read whole)")
    d.add_argument("--clips-per-video", type=int, default=1, metavar="N",
                   help="repeated sampling: N clips, each with its own window and crop, from one read of a video "
                        "(VideoMAE v2 / mae_st); they share a batch. An epoch still counts clips")
    d.add_argument("--decode-device", default="cpu", choices=DECODE_DEVICES,
                   help="where JPEG (svj) payloads are decoded: cpu = in the loader workers; cuda = the workers "
                        "hand the encoded frames over and the GPU decodes a whole batch at once (nvJPEG)")
    d.add_argument("--procedural-param", action="append", type=key_value, default=None, metavar="KEY=VALUE",
                   help="a factory parameter of procedural:<variant> sources, repeatable (as the factory's "
                        "--param), e.g. --procedural-param size=128")
    d.add_argument("--procedural-pool", action="append", type=key_value, default=None, metavar="KIND=URL",
                   help="a pool built by synthvid-factory build-pool KIND, for procedural:<variant> sources that "
                        "read pools (textures, stylegan, stylegan-clips, images), repeatable; a pool not given is "
                        "built small (64 items) into the factory's pools cache once")
    d.add_argument("--data-seed", type=int, default=None,
                   help="seed of procedural sources' videos (epoch e uses epoch_seed(data_seed, e)); default --seed")
    m = t.add_argument_group("model")
    m.add_argument("--model", default="vit_base", choices=sorted(PRESETS),
                   help="encoder and decoder size; vit_large has the decoder of the official ViT-L pretraining "
                        "(512 wide, 12 blocks, 8 heads; vit_small/vit_base: 4 blocks) and half the batch")
    m.add_argument("--img-size", type=int, default=224, help="input side in px after the crop")
    m.add_argument("--patch-size", type=int, default=16, help="spatial patch side in px")
    m.add_argument("--tubelet", type=int, default=2, help="frames per tubelet")
    m.add_argument("--mask-ratio", type=float, default=0.75, help="tube mask ratio: paper 0.75; VideoMAE K400/SSv2 0.9")
    o = t.add_argument_group("optimisation")
    o.add_argument("--epochs", type=int, default=3200, help="epochs of --epoch-size samples")
    o.add_argument("--batch-size", type=int, default=None,
                   help="global batch over all ranks (default: 192, the authors' recipe; 96 for vit_large, "
                        "the paper's ViT-L recipe halves it)")
    o.add_argument("--accum-steps", type=int, default=1, help="gradient accumulation steps")
    o.add_argument("--base-lr", type=float, default=3e-4, help="lr = base-lr x batch-size / 256")
    o.add_argument("--min-lr", type=float, default=1e-5, help="end of the cosine, scaled like --base-lr")
    o.add_argument("--warmup-epochs", type=float, default=40, help="linear warmup from 0")
    o.add_argument("--weight-decay", type=float, default=0.05, help="AdamW weight decay (not on norms and biases)")
    o.add_argument("--seed", type=int, default=0, help="seed of weights, data order, clips and masks")
    r = t.add_argument_group("runtime")
    add_runtime_flags(r, "run folder: checkpoints, config.json, log.csv, recon/")
    r.add_argument("--recon-every", type=int, default=0, help="write a reconstruction picture every N steps (0: never)")
    r.add_argument("--eval-data", default=None, metavar="URL",
                   help="held-out variant: masked loss vs the patch-mean baseline at each epoch end")
    r.add_argument("--eval-clips", type=int, default=64, help="clips scored by --eval-data")
    return t


def config_from_args(args):
    from .config import TrainConfig, recipe_batch

    return TrainConfig(
        data=args.data, weights=args.weights, model=args.model, img_size=args.img_size,
        num_frames=args.num_frames, sampling_rate=args.sampling_rate, patch_size=args.patch_size,
        tubelet=args.tubelet, mask_ratio=args.mask_ratio, epochs=args.epochs, epoch_size=args.epoch_size,
        batch_size=recipe_batch(args.model) if args.batch_size is None else args.batch_size,
        accum_steps=args.accum_steps, base_lr=args.base_lr, min_lr=args.min_lr,
        warmup_epochs=args.warmup_epochs, weight_decay=args.weight_decay, seed=args.seed, data_seed=args.data_seed,
        recon_every=args.recon_every, procedural_params=dict(args.procedural_param) if args.procedural_param else None,
        procedural_pools={k: str(v) for k, v in args.procedural_pool} if args.procedural_pool else None,
        read_mode=args.read_mode, clips_per_video=args.clips_per_video, decode_device=args.decode_device,
        eval_data=args.eval_data, eval_clips=args.eval_clips if args.eval_data else 0, **runtime_kwargs(args))


def run(args) -> int:
    from synthvid.manifests.storage import NO_SPACE, StorageError, disk_full, redact, safe_url

    from .config import TrainError
    from .data import DataError
    from .engine import train

    try:
        cfg = config_from_args(args)
        summary = train(cfg)
    except (TrainError, DataError, StorageError, ValueError) as e:
        print(f"synthvid-train: error: {redact(str(e))}", file=sys.stderr)
        return 2
    except OSError as e:     # a full disk under a write of its own (log.csv, pictures): one line too
        if e.errno not in NO_SPACE:
            raise
        print(f"synthvid-train: error: {redact(str(disk_full(e.filename or args.out)))}", file=sys.stderr)
        return 2
    done = summary["losses"]
    print(f"synthvid-train: {summary['step']} steps, epoch {summary['epoch']}, last loss "
          f"{done[-1] if done else float('nan'):.4f}; short clips {summary['short_clips']}, skipped samples "
          f"{summary['skipped_samples']}, skipped shards {summary['skipped_shards']}; outputs in {safe_url(cfg.out)}")
    return 0

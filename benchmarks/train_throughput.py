"""Training throughput: clips/s, data-wait share and MFU for vit_small and vit_base, pretraining or fine-tuning.

    python benchmarks/train_throughput.py                       # CPU smoke: batch 2, 112 px, a few steps
    python benchmarks/train_throughput.py --compile --json      # on a GPU: batch 64, 224 px, bf16, compiled
    python benchmarks/train_throughput.py --data ./out/accelerating-shapes --workers 8
    python benchmarks/train_throughput.py --mode finetune       # fine-tuning step + derived UCF101 GPU-hours

The step is the trainer's own: pretraining's step.Stepper (crop/resize/normalise on the device, tube masks as
index gathers, autocast, fp32 target and MSE, AdamW), or fine-tuning's eval.objective.ClassifierStepper
(mixup/cutmix, drop path 0.2, soft-target cross-entropy, AdamW with layer decay) on a VideoClassifier with
UCF101's 101 classes. MFU counts model FLOPs analytically (model.flops_per_clip / model.encoder_flops;
forward + backward = 3 x forward) over the device's dense bf16 peak (H100/H200: 989 TFLOP/s). Without --data
the clips are one batch resident on the device (data wait ~0: the model's ceiling); with --data they stream
from shards through DataLoader workers (the data-wait share says who is the bottleneck). Fine-tuning mode also
times the clips' augmentation (RandAugment, crop, flip, erasing) on the device, as `--augment-on device` runs
it (on a CPU: one loader worker's rate), and prints the GPU-hours of a full UCF101 fine-tune derived from
spec/videomae.md section 5's anchors (labelled as derived).
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "GH200": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}


def peak_flops(device: torch.device, override: float | None) -> float | None:
    if override:
        return override * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, v in PEAK_BF16.items():
        if key in name:
            return v
    return None


def batches(args, device, mcfg):
    """Endless micro-batches as the trainer's loader yields them."""
    if args.data is None:
        g = torch.Generator().manual_seed(0)
        frames = torch.randint(0, 256, (args.batch, mcfg.num_frames, args.frame_size, args.frame_size, 3),
                               dtype=torch.uint8, generator=g).to(device)
        s = int(args.frame_size * 0.875)
        resident = {"frames": frames, "box": torch.tensor([[8, 8, s, s]] * args.batch),
                    "source": torch.zeros(args.batch, dtype=torch.long), "index": torch.arange(args.batch),
                    "stats": torch.zeros(3, dtype=torch.long)}
        micro = 0
        while True:
            yield {**resident, "micro": micro}
            micro += 1
    from synthvid.trainer.data import ClipSpec, ClipStream, Plan, open_source, ordered

    src = open_source(args.data)
    plan = Plan(epoch_size=args.batch * 100_000, global_batch=args.batch, world=1, accum=1, workers=args.workers)
    ds = ClipStream([src], None, plan, ClipSpec(mcfg.num_frames, 4, mcfg.img_size), seed=0, rank=0)
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=args.workers,
                                         pin_memory=device.type == "cuda", prefetch_factor=4 if args.workers else None)
    yield from ordered(iter(loader))


def bench(name: str, args, device) -> dict:
    from synthvid.trainer import masking
    from synthvid.trainer.model import VideoMAE, flops_per_clip, model_config
    from synthvid.trainer.optim import WarmupCosine, make_optimizer
    from synthvid.trainer.runtime import autocast_for
    from synthvid.trainer.step import Stepper

    mcfg = model_config(name, img_size=args.img_size)
    model = VideoMAE(mcfg).to(device)
    opt = make_optimizer(model, 1e-4, 0.05, fused=device.type == "cuda")
    step_model = torch.compile(model) if args.compile else model
    precision, autocast = autocast_for(device, args.precision)       # the trainer's own precision rule
    # The trainer's own step (engine -> step.Stepper): augment on the device, masks, autocast, loss, AdamW.
    stepper = Stepper(step_model, opt, WarmupCosine(opt, 1e-4, 1e-5, 0, 10**6), mcfg, args.mask_ratio, seed=0,
                      autocast=autocast, device=device)
    t, h, w = mcfg.grid
    n_visible = t * (h * w - masking.num_masked_per_slot(h * w, args.mask_ratio))
    return _timed(name, args, device, stepper, batches(args, device, mcfg), 3 * flops_per_clip(mcfg, n_visible),
                  {"mask_ratio": args.mask_ratio, "visible_tokens": n_visible, "bf16": precision == "bf16"})


def _timed(name: str, args, device, stepper, data, train_flops: float, extra: dict) -> dict:
    """Steps of `stepper` on `data` after warm-up: clips/s, data wait, TFLOP/s and MFU."""
    times, waits = [], []
    for step in range(args.warmup + args.steps):
        result = stepper.step(data, micro_offset=0)   # ends at the loss's .item(): the device has finished
        if step >= args.warmup:   # compile and allocator warm-up excluded
            times.append(result.seconds)
            waits.append(result.wait)
    step_s = sum(times) / len(times)
    clips_s = args.batch / step_s
    peak = peak_flops(device, args.peak_tflops)
    res = {"clips_per_s": clips_s, "step_s": step_s, "data_wait_share": sum(waits) / sum(times),
           "tflops": clips_s * train_flops / 1e12, "mfu": (clips_s * train_flops / peak) if peak else None,
           "batch": args.batch, "img_size": args.img_size, "gflop_per_clip_train": train_flops / 1e9,
           "compile": args.compile, **extra,
           "max_mem_gb": torch.cuda.max_memory_allocated(device) / 1e9 if device.type == "cuda" else None}
    mfu = f"{res['mfu']:.1%}" if res["mfu"] is not None else "n/a (no known peak; --peak-tflops)"
    print(f"{name:<10} {clips_s:9.1f} clips/s  step {step_s * 1e3:8.1f} ms  data wait {res['data_wait_share']:5.1%}  "
          f"{res['tflops']:7.2f} TFLOP/s  MFU {mfu}", flush=True)
    del stepper
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    return res


# A full UCF101 fine-tune (spec paper.md C.2): 100 epochs of split 1's 9,537 training videos, 2 clips each.
UCF_FINETUNE_CLIPS = 100 * 9537 * 2


def finetune_batches(args, device, mcfg):
    """Endless resident fine-tuning micro-batches: normalised float clips and labels, as LabelledClips gives."""
    g = torch.Generator().manual_seed(0)
    clips = torch.randn((args.batch, 3, mcfg.num_frames, mcfg.img_size, mcfg.img_size), generator=g).to(device)
    batch = {"clips": clips, "label": torch.randint(0, 101, (args.batch,), generator=g),
             "source": torch.zeros(args.batch // 2, dtype=torch.long), "index": torch.arange(args.batch // 2),
             "stats": torch.zeros(3, dtype=torch.long)}
    micro = 0
    while True:
        yield {**batch, "micro": micro}
        micro += 1


def augment_rate(mcfg, device, videos: int = 4, repeats: int = 3) -> float:
    """Clips/s of the fine-tuning augmentation (RandAugment, crop, flip, erasing; 2 clips per video) of decoded
    16-frame 240x320 windows on `device`, as `--augment-on device` runs it (on a CPU with one thread: what
    one loader worker does). Best of `repeats`."""
    import time

    from synthvid.trainer.eval.augment import AugmentOptions
    from synthvid.trainer.eval.train_data import TrainClips, device_clips

    g = torch.Generator().manual_seed(0)
    batch = {"frames": torch.randint(0, 256, (videos, mcfg.num_frames, 240, 320, 3), dtype=torch.uint8, generator=g),
             "sizes": torch.tensor([[240, 320]] * videos), "index": torch.arange(videos), "epoch": 0,
             "label": torch.zeros(videos, dtype=torch.long)}
    spec = TrainClips(mcfg.num_frames, 4, 2, AugmentOptions(size=mcfg.img_size), on_device=True)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        clips, _ = device_clips(batch, spec, 0, device)
        clips.sum().item()   # wait for the device
        best = min(best, time.perf_counter() - t0)
    return 2 * videos / best


def bench_finetune(name: str, args, device) -> dict:
    from synthvid.trainer.eval.classifier import HeadConfig, VideoClassifier
    from synthvid.trainer.eval.mixup import MixupOptions
    from synthvid.trainer.eval.objective import ClassifierStepper
    from synthvid.trainer.eval.optim import make_optimizer
    from synthvid.trainer.model import encoder_flops, model_config
    from synthvid.trainer.runtime import autocast_for
    from synthvid.trainer.optim import WarmupCosine

    mcfg = model_config(name, img_size=args.img_size, drop_path=0.2)
    model = VideoClassifier(mcfg, HeadConfig(101)).to(device)
    opt = make_optimizer(model, lr=1e-3, weight_decay=0.05, layer_decay=0.7, betas=(0.9, 0.95),
                         fused=device.type == "cuda")
    step_model = torch.compile(model) if args.compile else model
    precision, autocast = autocast_for(device, args.precision)       # the trainer's own precision rule
    stepper = ClassifierStepper(step_model, opt, WarmupCosine(opt, 1e-3, 1e-6, 0, 10**6), 101, MixupOptions(),
                                seed=0, autocast=autocast, device=device)
    return _timed(name, args, device, stepper, finetune_batches(args, device, mcfg),
                  3 * encoder_flops(mcfg, mcfg.num_tokens),
                  {"augment_clips_per_s": augment_rate(mcfg, device), "classes": 101, "bf16": precision == "bf16"})


def print_derived(results: dict, args) -> None:
    """GPU-hours of a full UCF101 fine-tune from the spec's anchors (and from this run on a GPU)."""
    from synthvid.trainer.model import encoder_flops, model_config

    flop = 3 * encoder_flops(model_config("vit_base"), model_config("vit_base").num_tokens)   # ViT-B 16x224
    anchors = [("H100 at 40% MFU of 989 TFLOP/s bf16 (spec 5.3)", 989e12 * 0.40 / flop),
               ("H100 at 100% MFU (spec 5.3, a floor)", 989e12 / flop),
               ("V100 at VideoMAE#5's 6.5 TFLOP/s effective (spec 5.1)", 6.5e12 / flop),
               ("GPU at VideoMAE#48's 35 pretraining clips/s x 340.9 GFLOP (spec 5.1)", 35 * 340.9e9 / flop)]
    print(f"derived, not measured: a full UCF101 fine-tune of ViT-B 16x224 = {UCF_FINETUNE_CLIPS:,} clips "
          f"(100 epochs x 9,537 videos x 2) at {flop / 1e9:.0f} GFLOP per training clip:")
    for what, rate in anchors:
        print(f"  {what}: {rate:7.1f} clips/s -> {UCF_FINETUNE_CLIPS / rate / 3600:7.1f} GPU-hours")
    for name, r in results.items():
        if args.img_size == 224 and name == "vit_base" and torch.cuda.is_available():
            print(f"  this GPU, measured {r['clips_per_s']:.1f} clips/s -> "
                  f"{UCF_FINETUNE_CLIPS / r['clips_per_s'] / 3600:.1f} GPU-hours (model step only)")


def main(argv=None) -> int:
    gpu = torch.cuda.is_available()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mode", default="pretrain", choices=["pretrain", "finetune"],
                   help="pretraining step, or fine-tuning step (+ derived GPU-hours of a full UCF101 fine-tune)")
    p.add_argument("--models", default="vit_small,vit_base")
    p.add_argument("--img-size", type=int, default=224 if gpu else 112)
    p.add_argument("--frame-size", type=int, default=None, help="synthetic frame side (default img-size x 8/7)")
    p.add_argument("--batch", type=int, default=64 if gpu else 2,
                   help="clips per step (one device; fine-tuning: an even number, 2 clips per video)")
    p.add_argument("--mask-ratio", type=float, default=0.75)
    p.add_argument("--steps", type=int, default=20 if gpu else 3)
    p.add_argument("--warmup", type=int, default=5 if gpu else 1)
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    p.add_argument("--compile", action="store_true")
    p.add_argument("--data", default=None, help="stream from this variant instead of a resident batch")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--threads", type=int, default=None if gpu else 1,
                   help="torch CPU threads (CPU default 1: on a shared machine more threads spin and lose)")
    p.add_argument("--peak-tflops", type=float, default=None, help="dense bf16 peak of this device, if not known")
    p.add_argument("--json", action="store_true", help="last line: one JSON object")
    args = p.parse_args(argv)
    args.frame_size = args.frame_size or round(args.img_size * 8 / 7)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if gpu else "cpu")
    if gpu:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    name = torch.cuda.get_device_name(device) if gpu else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}; torch {torch.__version__}", flush=True)
    run = bench_finetune if args.mode == "finetune" else bench
    results = {m: run(m, args, device) for m in args.models.split(",")}
    if args.mode == "finetune":
        for m, r in results.items():
            where = "this GPU" if device.type == "cuda" else "one CPU thread (one loader worker)"
            print(f"{m:<10} augmentation on {where}: {r['augment_clips_per_s']:.1f} clips/s")
        print_derived(results, args)
    if args.json:
        print(json.dumps({"device": name, "mode": args.mode, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

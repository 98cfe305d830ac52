"""Pretraining throughput: clips/s, data-wait share and MFU for vit_small and vit_base.

    python benchmarks/train_throughput.py                       # CPU smoke: batch 2, 112 px, a few steps
    python benchmarks/train_throughput.py --compile --json      # on a GPU: batch 64, 224 px, bf16, compiled
    python benchmarks/train_throughput.py --data ./out/accelerating-shapes --workers 8

The step is the trainer's own (step.Stepper): crop/resize/normalise on the device, tube masks as index
gathers, autocast, fp32 target and MSE, AdamW. MFU counts model FLOPs analytically (model.flops_per_clip;
forward + backward = 3 x forward) over the device's dense bf16 peak (H100/H200: 989 TFLOP/s). Without
--data the clips are one uint8 batch resident on the device (data wait ~0: the model's ceiling); with
--data they stream from shards through DataLoader workers (the data-wait share says who is the bottleneck).
"""

from __future__ import annotations

import argparse
import contextlib
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
    from synthvid.trainer.step import Stepper

    mcfg = model_config(name, img_size=args.img_size)
    model = VideoMAE(mcfg).to(device)
    opt = make_optimizer(model, 1e-4, 0.05, fused=device.type == "cuda")
    step_model = torch.compile(model) if args.compile else model
    bf16 = args.precision == "bf16" or (args.precision == "auto" and device.type == "cuda")
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    # The trainer's own step (engine -> step.Stepper): augment on the device, masks, autocast, loss, AdamW.
    stepper = Stepper(step_model, opt, WarmupCosine(opt, 1e-4, 1e-5, 0, 10**6), mcfg, args.mask_ratio, seed=0,
                      autocast=autocast, device=device)
    t, h, w = mcfg.grid
    n_visible = t * (h * w - masking.num_masked_per_slot(h * w, args.mask_ratio))
    data = batches(args, device, mcfg)
    times, waits = [], []
    for step in range(args.warmup + args.steps):
        result = stepper.step(data, micro_offset=0)   # ends at the loss's .item(): the device has finished
        if step >= args.warmup:   # compile and allocator warm-up excluded
            times.append(result.seconds)
            waits.append(result.wait)
    step_s = sum(times) / len(times)
    clips_s = args.batch / step_s
    train_flops = 3 * flops_per_clip(mcfg, n_visible)
    peak = peak_flops(device, args.peak_tflops)
    res = {"clips_per_s": clips_s, "step_s": step_s, "data_wait_share": sum(waits) / sum(times),
           "tflops": clips_s * train_flops / 1e12, "mfu": (clips_s * train_flops / peak) if peak else None,
           "batch": args.batch, "img_size": args.img_size, "mask_ratio": args.mask_ratio, "visible_tokens": n_visible,
           "gflop_per_clip_train": train_flops / 1e9, "bf16": bf16, "compile": args.compile,
           "max_mem_gb": torch.cuda.max_memory_allocated(device) / 1e9 if device.type == "cuda" else None}
    mfu = f"{res['mfu']:.1%}" if res["mfu"] is not None else "n/a (no known peak; --peak-tflops)"
    print(f"{name:<10} {clips_s:9.1f} clips/s  step {step_s * 1e3:8.1f} ms  data wait {res['data_wait_share']:5.1%}  "
          f"{res['tflops']:7.2f} TFLOP/s  MFU {mfu}", flush=True)
    del model, opt, step_model
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    return res


def main(argv=None) -> int:
    gpu = torch.cuda.is_available()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="vit_small,vit_base")
    p.add_argument("--img-size", type=int, default=224 if gpu else 112)
    p.add_argument("--frame-size", type=int, default=None, help="synthetic frame side (default img-size x 8/7)")
    p.add_argument("--batch", type=int, default=64 if gpu else 2, help="clips per step (one device)")
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
    results = {m: bench(m, args, device) for m in args.models.split(",")}
    if args.json:
        print(json.dumps({"device": name, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""synthvid.trainer: VideoMAE pretraining that streams published synthvid variants (or renders them).

    synthvid-train pretrain --data ./out/accelerating-shapes --model vit_base --batch-size 192 --out runs/x

Modules, each meant to be read in one sitting:
    cli.py        the `synthvid-train` command (entry point `synthvid.trainer.cli:main`)
    engine.py     the training loop: devices, DDP, checkpoints, resume, CSV log, held-out loss
    data.py       shard and procedural sources, the epoch plan (ranks x workers), clip sampling, crops
    model.py      VideoMAE encoder/decoder from timm Blocks, tubelet embed, sin-cos table, target, FLOPs
    masking.py    tube masks as fixed-size index tensors
    optim.py      AdamW parameter groups and the warmup + cosine schedule
    recon.py      the reconstruction picture
    hf_export.py  weight mapping to Hugging Face transformers' VideoMAEForPreTraining

The trainer never imports synthvid.factory: shards come through synthvid.manifests, and procedural
videos through the `synthvid.sources` entry point group.
"""

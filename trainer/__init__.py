"""synthvid.trainer: VideoMAE pretraining that streams published synthvid variants (or renders them).

    synthvid-train pretrain --data ./out/accelerating-shapes --model vit_base --batch-size 192 --out runs/x

Modules, each meant to be read in one sitting (entry point -> engine -> model, data):
    cli.py          the `synthvid-train` command: one module per subcommand (add_parser + run), --version
    cli_format.py   help formatting (each default shown once) and KEY=VALUE / list value parsers
    pretrain.py     the `pretrain` subcommand: flags -> TrainConfig, one-line errors
    config.py       TrainConfig (what a run is asked to do) and TrainError
    engine.py       the loop: train(cfg) = prepare, epochs of steps, held-out loss, final checkpoint
    prepare.py      setup: device and DDP, sources and plan, model / optimiser / schedule, resume, config.json
    runtime.py      devices, process group, precision (autocast), threads and process seeds
    step.py         one optimiser step: micro-batches, accumulation, DDP no_sync, grad scaler, mean loss
    checkpoint.py   the saved state (TrainState, Position), atomic save, load, compatibility check
    paper.py        the paper table row a --data variant reproduces, and whether its form is the authors'
    evaluate.py     held-out masked loss next to the patch-mean baseline
    runlog.py       log.csv, progress bar, reconstruction pictures (rank 0 only)
    draws.py        every random draw of the trainer, as named streams of manifests.seeds.substream
    data/           the data path (a package: plan, sources, shards, shard_reader, procedural, clips,
                    stream, augment, errors; see its docstring)
    model.py        VideoMAE encoder/decoder from timm Blocks, tubelet embed, sin-cos table, target, FLOPs
    masking.py      tube masks as fixed-size index tensors
    optim.py        AdamW parameter groups and the warmup + cosine schedule
    recon.py        the reconstruction picture
    hf_export.py    weight mapping to Hugging Face transformers' VideoMAEForPreTraining

The trainer never imports synthvid.factory: shards come through synthvid.manifests, and procedural
videos through the `synthvid.sources` entry point group.
"""

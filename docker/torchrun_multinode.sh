#!/usr/bin/env bash
# Multi-node VideoMAE pretraining from published shards, one torchrun per node (trainer image:
# docker/trainer.Dockerfile). Run the same command on every node, NODE_RANK=0..NNODES-1:
#
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 DATA=s3://bucket/synthvid/v1/accelerating-shapes \
#     OUT=/shared/runs/accel-vitb docker/torchrun_multinode.sh
#   (node 1: the same with NODE_RANK=1)
#
# Shards are streamed from the bucket; credentials and endpoint come from the standard AWS_* environment
# (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL) or the node's role, never from arguments.
# --batch-size is global (split over all ranks). OUT must be shared by the nodes for checkpoints. With
# --resume auto every start, a rerun of this script and each of torchrun's restarts alike, continues from
# the checkpoint in OUT when there is one and starts fresh otherwise. DRY_RUN=1 prints the command instead.
set -euo pipefail

NNODES="${NNODES:-2}"
NPROC_PER_NODE="${NPROC_PER_NODE:-8}"
NODE_RANK="${NODE_RANK:?set NODE_RANK (0 on the first node)}"
MASTER_ADDR="${MASTER_ADDR:?set MASTER_ADDR (address of node 0)}"
MASTER_PORT="${MASTER_PORT:-29500}"
DATA="${DATA:?set DATA to a published variant, e.g. s3://bucket/synthvid/v1/accelerating-shapes}"
OUT="${OUT:?set OUT to a run folder shared by all nodes}"
MODEL="${MODEL:-vit_base}"
EPOCHS="${EPOCHS:-3200}"
BATCH_SIZE="${BATCH_SIZE:-192}"
LOADER_WORKERS="${LOADER_WORKERS:-8}"

cmd=(torchrun
  --nnodes "$NNODES" --nproc-per-node "$NPROC_PER_NODE" --node-rank "$NODE_RANK"
  --rdzv-backend c10d --rdzv-endpoint "$MASTER_ADDR:$MASTER_PORT" --rdzv-id "${RDZV_ID:-synthvid-pretrain}"
  --max-restarts 3
  --module synthvid.trainer.cli
  pretrain
  --data "$DATA" --model "$MODEL" --epochs "$EPOCHS" --batch-size "$BATCH_SIZE"
  --workers "$LOADER_WORKERS" --precision bf16 --save-every 1000
  --out "$OUT" --resume auto)

if [[ -n "${DRY_RUN:-}" ]]; then
  printf '%q ' "${cmd[@]}"
  printf '\n'
else
  exec "${cmd[@]}"
fi

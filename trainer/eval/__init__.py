"""Evaluation of a pretrained encoder: the fine-tuning / linear-probe classifier and its recipes, layer-wise
lr decay, video mixup/cutmix and augmentation, multi-view testing, checkpoint loading and export, and the
attention-key feature maps (spec paper.md C.2, C.3, F; videomae.md 2, 3, 6)."""

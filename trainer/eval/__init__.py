"""Evaluation of a pretrained encoder, the paper's tables and figures from a user's own runs: fine-tuning and
linear probing (`finetune`, `probe`), multi-view testing with UCF101-P robustness (`test`), attention-key
feature maps (`features`) and export (`export`); and their building blocks: the classifier and its recipes,
layer-wise lr decay, video mixup/cutmix and augmentation, multi-view indices, checkpoint loading and layouts
(spec paper.md C.2, C.3, D, F, G; videomae.md 2, 3, 6)."""

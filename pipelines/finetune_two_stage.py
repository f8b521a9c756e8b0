"""Fine-tuning: the new layer alone for 3 epochs, then every layer at a 10x lower learning rate."""

from hybridtl.recipes import finetune_builder

KIND = "finetune"
GRID = {"lr": [3e-4, 1e-3]}
# lr 1e-3: measured best with the recipe (docs/guide/finetuning.md)
build = finetune_builder("two_stage", lr=1e-3)

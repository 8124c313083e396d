"""Self-supervised pre-training with the wav2vec 2.0 objective (`asrkit pretrain`).

    objective.py  masks -> distractors -> contrastive, diversity and feature-penalty losses
    data.py       unlabelled audio (manifests or a folder), crops, batches
    model.py      Wav2Vec2ForPreTraining from random init or a checkpoint
    loop.py       the training loop on accelerate, checkpoints, validation, output folder
"""

from asrkit.pretrain.loop import PretrainOptions, pretrain

__all__ = ["PretrainOptions", "pretrain"]

"""Self-supervised pre-training with the wav2vec 2.0 objective (`asrkit pretrain`).

    objective.py  masks -> distractors -> contrastive, diversity and feature-penalty losses
    data.py       unlabelled audio (manifests or a folder), crops, batches
    model.py      Wav2Vec2ForPreTraining from random init or a checkpoint
    loop.py       the training loop, validation, output folder (on asrkit.runs, as fine-tuning)
    info.py       how a checkpoint was pre-trained, read back for reports
"""

__all__ = ["PretrainOptions", "pretrain"]


def __getattr__(name: str):
    # The loop pulls in torch, transformers and accelerate; asrkit.pretrain.info (read by
    # reports) must not.
    if name in __all__:
        from asrkit.pretrain import loop

        return getattr(loop, name)
    raise AttributeError(name)

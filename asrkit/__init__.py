"""asrkit: CTC fine-tuning of wav2vec 2.0 style models and ASR decoding with KenLM."""

__version__ = "0.1.0"

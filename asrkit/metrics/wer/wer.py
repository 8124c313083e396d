"""Word error rate as an `evaluate` metric, computed with jiwer 4.

`evaluate.load("wer")` fetches its script from the Hub (no network here), and that
script broke with jiwer 4.0 (evaluate issue #684). This copy is kept in the project and
loads by path, offline:

    import evaluate
    from asrkit.score import wer_metric_path
    wer = evaluate.load(str(wer_metric_path()))
    wer.compute(predictions=["the hat sat"], references=["THE CAT SAT"])  # 0.333...

Unlike the Hub metric, both sides pass through asrkit's normaliser by default (upper
case, no punctuation), as every WER asrkit reports does; pass normalize=False to score
the strings as given.
"""

import datasets
import evaluate
import jiwer

_CITATION = """\
@inproceedings{morris2004,
  author = {Morris, Andrew and Maier, Viktoria and Green, Phil},
  year = {2004},
  title = {From WER and RIL to MER and WIL: improved evaluation measures for connected speech recognition.}
}
"""

_DESCRIPTION = """\
Word error rate: (S + D + I) / N, where S, D and I count the substituted, deleted and
inserted words of the best alignment of hypothesis and reference and N is the number of
reference words. Counts are summed over all pairs before dividing (a corpus WER, not a
mean of per-sentence WERs). Computed with jiwer 4.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of hypothesis transcripts.
    references: list of reference transcripts, one per prediction.
    concatenate_texts: join all pairs into one long pair before aligning (the Hub
        metric's option; the default aligns each pair on its own).
    normalize: pass both sides through asrkit.text.normalize first (default True).
Returns:
    the WER as a fraction (0.25 means one word in four is wrong); it can exceed 1.
Examples:
    >>> wer = evaluate.load("asrkit/metrics/wer")
    >>> wer.compute(predictions=["this is the prediction", "there is an other sample"],
    ...             references=["this is the reference", "there is another one"])
    0.5
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class WER(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({
                "predictions": datasets.Value("string", id="sequence"),
                "references": datasets.Value("string", id="sequence"),
            }),
            codebase_urls=["https://github.com/jitsi/jiwer/"],
            reference_urls=["https://en.wikipedia.org/wiki/Word_error_rate"],
        )

    def _compute(self, predictions=None, references=None, concatenate_texts=False, normalize=True):
        if len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
        if normalize:
            from asrkit.text import normalize as norm  # imported here: the metric loads without it otherwise

            predictions = [norm(p) for p in predictions]
            references = [norm(r) for r in references]
        else:  # collapse whitespace so that a blank reference counts as empty below
            predictions = [" ".join(p.split()) for p in predictions]
            references = [" ".join(r.split()) for r in references]
        if concatenate_texts:
            predictions = [" ".join(p for p in predictions if p)]
            references = [" ".join(r for r in references if r)]
        ref_words = sum(len(r.split()) for r in references)
        if ref_words == 0:
            raise ValueError("WER is undefined: the references hold no words")
        errors = 0
        for ref, hyp in zip(references, predictions):
            # jiwer 4 wants words on the reference side; with none, every hyp word is inserted.
            if not ref:
                errors += len(hyp.split())
                continue
            out = jiwer.process_words(ref, hyp)
            errors += out.substitutions + out.deletions + out.insertions
        return errors / ref_words

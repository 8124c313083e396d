"""asrkit's evaluate WER metric loads by path (offline) and agrees with hand counts."""

import pytest

evaluate = pytest.importorskip("evaluate")

from asrkit.score import score, wer_metric_path  # noqa: E402
from asrkit.results import Recog  # noqa: E402


@pytest.fixture(scope="module")
def wer():
    return evaluate.load(str(wer_metric_path()))


def test_hub_example(wer):
    # The example of the Hub's wer metric: 4 errors over 8 reference words.
    assert wer.compute(predictions=["this is the prediction", "there is an other sample"],
                       references=["this is the reference", "there is another one"]) == 0.5


def test_normalises_by_default(wer):
    assert wer.compute(predictions=["the hat sat"], references=["THE CAT SAT."]) == pytest.approx(1 / 3)
    # Raw strings: "the"/"THE", "sat"/"SAT." differ too.
    assert wer.compute(predictions=["the hat sat"], references=["THE CAT SAT."], normalize=False) == 1.0


def test_empty_sides_and_agreement_with_score(wer):
    refs = ["THE CAT SAT", "A B", "", "HELLO WORLD"]
    hyps = ["the hat sat on", "", "X Y", "hello, world!"]
    # 1 substitution + 1 insertion, 2 deletions, 2 insertions over 7 reference words.
    assert wer.compute(predictions=hyps, references=refs) == pytest.approx(6 / 7)
    recogs = [Recog(str(i), "s", 1.0, r, h) for i, (r, h) in enumerate(zip(refs, hyps))]
    assert score(recogs).wer == pytest.approx(6 / 7)


def test_concatenate_texts(wer):
    assert wer.compute(predictions=["a b", "c"], references=["a b", "d"], concatenate_texts=True) == pytest.approx(1 / 3)


def test_no_reference_words_is_an_error(wer):
    with pytest.raises(ValueError, match="references hold no words"):
        wer.compute(predictions=["x"], references=[""])

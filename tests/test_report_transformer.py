"""The report's third column: a rescoring result (asrkit.rescore) is the paper's Transformer
LM row, after no LM and the 4-gram, with Table 9's Transformer figures in brackets and the
settings that made it (first pass included)."""

import dataclasses

from asrkit.report import ReportOptions, report
from asrkit.report.collect import lm_kind
from asrkit.results import DecodeSummary, Recog, result_dir, write_recogs, write_summary
from asrkit.score import score

from report_fixtures import make_models

RESCORED = {"name": "rescore", "lm": "work/lm/transformer", "lm_name": "transformer", "lm_weight": 1.2,
            "word_score": -0.5, "ngram_weight": 0.0, "nbest": 50, "first_pass_setting": "4gram",
            "first_pass": {"name": "flashlight", "beam": 500, "lm_weight": 2.0}, "first_pass_wer": 0.25,
            "oracle_wer": 0.0}


def test_rescoring_is_the_transformer_column(tmp_path):
    base, _ = make_models(tmp_path / "models")
    recogs = [Recog("3-1-0", "3", 6.0, "ONE TWO THREE FOUR", "ONE TWO THREE FOUR")]
    folder = result_dir(base, "dev-other", "transformer")
    write_recogs(folder, recogs)
    s = score(recogs)
    fields = {f.name for f in dataclasses.fields(DecodeSummary)}
    write_summary(folder, DecodeSummary(
        model=str(base), split="dev-other", setting="transformer", rtf=0.01, decoder=RESCORED,
        command="asrkit decode --lm 4gram --rescore transformer", commit="abc1234",
        **{k: v for k, v in dataclasses.asdict(s).items() if k in fields}))
    assert lm_kind("transformer", RESCORED) == "transformer"
    files = report([base], ReportOptions(tmp_path / "out"))
    lines = files.table.splitlines()[2:]
    assert [line.split(" | ")[2] for line in lines] == ["greedy", "4gram", "transformer"]
    assert lines[2] == "| base-10min | 10min | transformer | - (6.6) | 0.00 (13.2) | 0.01 |"
    text = files.markdown.read_text()
    assert "Transformer rows: the first pass's N-best lists" in text
    section = text.split("### base-10min / 10min / transformer\n\n")[1]
    assert '"first_pass_setting": "4gram"' in section and '"oracle_wer": 0.0' in section

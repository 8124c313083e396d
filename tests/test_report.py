"""`asrkit report` from hand-made model folders: table content, JSON, model cards, and
tolerance of missing or half-written files."""

import json

import pytest
import yaml

from asrkit import paper
from asrkit.cli import main
from asrkit.report import ReportOptions, columns, load_model, report, rows
from asrkit.report.card import MARKER
from asrkit.report.collect import lm_kind
from asrkit.results import DecodeSummary, result_dir, write_summary

from report_fixtures import make_models

TABLE = """\
| model | labelled | LM | dev-clean | dev-other | RTF |
|---|---|---|---:|---:|---:|
| base-10min | 10min | greedy | 12.50 (46.1) | 50.00 (51.5) | 0.015 |
| base-10min | 10min | 4gram | - (8.9) | 25.00 (15.7) | 0.2 |
| tiny-synth | tiny † | greedy | 40.00 | - | - |
"""


@pytest.fixture
def models(tmp_path):
    return make_models(tmp_path / "models")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One report over the fixture models, shared by the tests that only read it (plotting
    takes a second or two)."""
    root = tmp_path_factory.mktemp("built")
    models = make_models(root / "models")
    return models, report(list(models), ReportOptions(root / "out"))


def test_markdown_table_exact(built):
    _, files = built
    assert files.table == TABLE
    text = files.markdown.read_text()
    assert text.startswith("# WER report\n\n" + TABLE)
    assert files.problems == []


def test_each_row_carries_command_commit_decoder_and_rtf(built):
    (base, _), files = built
    text = files.markdown.read_text()
    section = text.split("### base-10min / 10min / 4gram\n\n")[1].split("\n\n")[0]
    assert section == (
        "- dev-other: WER 25.00, CER 27.78, S/D/I 0/1/0 over 4 words in 1 utterance; RTF 0.2; "
        'commit `abc1234`; decoder `{"beam": 500, "lm": "work/lm/librispeech-4gram/lm.bin", '
        '"lm_weight": 2.0, "name": "flashlight", "word_score": -1.0}`; beam 500 (the paper\'s: 1500)\n'
        f"  `asrkit decode --model {base} --split dev-other --setting 4gram`")
    assert "### tiny-synth / tiny / greedy\n\n- dev-clean: WER 40.00, CER 20.00, S/D/I 2/1/1 over 10 words " \
           "in 2 utterances; RTF -; commit `not recorded`; decoder `{}`\n  (command not recorded)" in text


def test_json_has_the_same_content(built):
    _, files = built
    data = json.loads(files.json.read_text())
    assert data["columns"] == ["dev-clean", "dev-other"]
    assert [(r["model"], r["setting"], r["lm"]) for r in data["rows"]] == [
        ("base-10min", "greedy", "none"), ("base-10min", "4gram", "4gram"), ("tiny-synth", "greedy", "none")]
    greedy = data["rows"][0]
    assert {k: v["wer"] for k, v in greedy["results"].items()} == {"dev-clean": 12.5, "dev-other": 50.0}
    assert greedy["paper"] == paper.TABLE9[("10min", "base", "none")]
    assert greedy["rtf"] == pytest.approx(0.015)
    assert greedy["results"]["dev-other"]["command"].endswith("--split dev-other --setting greedy")
    assert greedy["results"]["dev-other"]["commit"] == "abc1234"
    assert data["rows"][2]["paper"] is None and data["rows"][2]["synthetic"] is True
    assert data["models"][0]["lm_tuning"][0]["best"] == {"lm_weight": 2.0, "word_score": -0.5}


def test_outputs_are_written_atomically(built):
    _, files = built
    assert sorted(p.name for p in files.html.parent.iterdir()) == ["report.html", "report.json", "report.md"]


def test_model_card_front_matter_has_model_index(built):
    (base, tiny), files = built
    assert files.cards == [base / "README.md", tiny / "README.md"]
    text = (base / "README.md").read_text()
    assert text.startswith("---\n") and MARKER in text
    meta = yaml.safe_load(text.split("---\n")[1])
    (entry,) = meta["model-index"]
    assert entry["name"] == "base-10min"
    assert [(r["task"]["type"], r["dataset"]["type"], r["dataset"]["config"], r["dataset"]["split"],
             [(m["type"], m["value"], m["name"]) for m in r["metrics"]]) for r in entry["results"]] == [
        ("automatic-speech-recognition", "librispeech_asr", "clean", "validation",
         [("wer", 12.5, "dev-clean WER (greedy)")]),
        ("automatic-speech-recognition", "librispeech_asr", "other", "validation",
         [("wer", 50.0, "dev-other WER (greedy)"), ("wer", 25.0, "dev-other WER (4gram)")]),
    ]
    # A synthesised corpus is not claimed to be the Hub's LibriSpeech.
    tiny_meta = yaml.safe_load((tiny / "README.md").read_text().split("---\n")[1])
    (result,) = tiny_meta["model-index"][0]["results"]
    assert result["dataset"]["type"] == "asrkit-local" and "datasets" not in tiny_meta


def test_model_card_reads_with_huggingface_hub(built):
    hub = pytest.importorskip("huggingface_hub")
    (base, _), _ = built
    card = hub.ModelCard.load(base / "README.md")
    results = [(r.dataset_type, r.dataset_config, r.dataset_split, r.metric_type, r.metric_value, r.metric_name)
               for r in card.data.eval_results]
    assert results == [
        ("librispeech_asr", "clean", "validation", "wer", 12.5, "dev-clean WER (greedy)"),
        ("librispeech_asr", "other", "validation", "wer", 50.0, "dev-other WER (greedy)"),
        ("librispeech_asr", "other", "validation", "wer", 25.0, "dev-other WER (4gram)"),
    ]
    assert card.data.model_name == "base-10min"
    assert hub.metadata_load(base / "README.md")["model-index"][0]["name"] == "base-10min"


def test_a_readme_not_written_by_asrkit_is_kept_unless_asked(models, tmp_path):
    base, _ = models
    (base / "README.md").write_text("# my notes\n")
    files = report(list(models), ReportOptions(tmp_path / "out"))
    assert (base / "README.md").read_text() == "# my notes\n" and base / "README.md" not in files.cards
    report(list(models), ReportOptions(tmp_path / "out", overwrite_readme=True))
    assert MARKER in (base / "README.md").read_text()
    report(list(models), ReportOptions(tmp_path / "out"))  # our own card is rewritten freely
    assert MARKER in (base / "README.md").read_text()


def test_missing_and_broken_files_are_tolerated(models, tmp_path):
    base, tiny = models
    (base / "train-log.jsonl").write_text('{"kind": "train", "update": 1, "loss": 2.0}\n{"update": 2, "lo')  # still being written
    (base / "lm-tuning.json").write_text("{not json")
    (base / "recipe.yaml").write_text("split: [unclosed\n")
    (base / "decode" / "dev-clean" / "greedy" / "wer-summary.json").unlink()  # scored from recogs instead
    broken = base / "decode" / "test-clean" / "greedy"
    broken.mkdir(parents=True)
    (broken / "wer-summary.json").write_text("{")  # and no recogs: left out
    m = load_model(base)
    assert m.train_log == ({"step": 1, "loss": 2.0},) and m.tuning == () and m.labelled is None
    assert [(r.split, r.setting, r.wer) for r in m.results] == [
        ("dev-clean", "greedy", pytest.approx(1 / 8)), ("dev-other", "4gram", 0.25), ("dev-other", "greedy", 0.5)]
    assert len(m.problems) == 5
    assert any("lm-tuning.json: not valid JSON" in p for p in m.problems)
    assert any("test-clean/greedy: neither a readable wer-summary.json nor recogs.jsonl" in p for p in m.problems)
    files = report([base, tiny], ReportOptions(tmp_path / "out"))
    assert "## Files that could not be read" in files.markdown.read_text()
    # Without a recipe there is no labelled split, so no paper numbers; dev-clean lost its
    # summary, so the RTF is dev-other's alone.
    assert "| base-10min | - | greedy | 12.50 | 50.00 | 0.02 |" in files.table


def test_a_partial_summary_is_a_problem_and_scored_from_recogs(models):
    base, _ = models
    partial = base / "decode" / "dev-clean" / "greedy" / "wer-summary.json"
    partial.write_text('{"wer": 0.9}')  # not what decode writes: its numbers are not trusted
    (base / "decode" / "test-other" / "greedy").mkdir(parents=True)
    (base / "decode" / "test-other" / "greedy" / "wer-summary.json").write_text('{"wer": 0.1}')  # no recogs
    m = load_model(base)
    (dev_clean,) = [r for r in m.results if (r.split, r.setting) == ("dev-clean", "greedy")]
    assert dev_clean.wer == pytest.approx(1 / 8) and dev_clean.command == "" and dev_clean.by_length
    assert "test-other" not in {r.split for r in m.results}
    assert any(p.startswith(f"{partial}: not a decode summary") and "scored from recogs.jsonl instead" in p
               for p in m.problems)
    assert any("test-other/greedy: neither a readable wer-summary.json nor recogs.jsonl" in p for p in m.problems)


def test_training_log_and_tuning_as_asrkit_writes_them(models):
    base, _ = models
    m = load_model(base)
    assert (m.labelled, m.size, m.synthetic) == ("10min", "base", False)
    assert m.train_log[0] == {"step": 50, "loss": 2.0, "lr": 1.25e-05}  # the start line is left out
    assert m.train_log[-1] == {"step": 1000, "dev_wer": 0.5}  # a validation line
    (rec,) = m.tuning
    assert rec["params"] == ["lm_weight", "word_score"] and len(rec["trials"]) == 6 and rec["best_wer"] == 0.25


def test_files_in_layouts_asrkit_does_not_write_are_problems_not_guesses(tmp_path):
    model = tmp_path / "m"
    (model / "decode" / "dev-other" / "greedy").mkdir(parents=True)
    (model / "decode" / "dev-other" / "greedy" / "wer-summary.json").write_text('{"wer": 0.5}')
    (model / "train-log.jsonl").write_text('{"step": 10, "loss": 3.0, "lr": 1e-5}\n')
    (model / "lm-tuning.json").write_text(json.dumps({"trials": [], "best": {}}))
    (model / "recipe.yaml").write_text("split: 1h\nsize: large\n")
    m = load_model(model)
    assert m.train_log == () and m.tuning == () and (m.labelled, m.size) == (None, None)
    assert any("unknown section(s) size, split" in p for p in m.problems)
    assert any("lm-tuning.json: not an asrkit LM tuning file" in p for p in m.problems)
    assert any("train-log.jsonl: 1 line(s)" in p for p in m.problems)


def test_synthesised_corpus_is_found_through_the_workspace_manifest(models, tmp_path, monkeypatch):
    base, _ = models
    monkeypatch.setenv("ASRKIT_WORK", str(tmp_path / "work"))
    corpus = tmp_path / "work" / "corpus" / "synth"
    (corpus / "synth-report.json").parent.mkdir(parents=True)
    manifest = tmp_path / "work" / "manifests" / "dev-clean.jsonl"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"id": "1-1-0", "audio": str(corpus / "LibriSpeech/dev-clean/1/1/1-1-0.flac")}) + "\n")
    assert load_model(base).synthetic is False  # no synth-report.json yet: a real corpus
    (corpus / "synth-report.json").write_text("{}")
    m = load_model(base)
    assert m.synthetic is True
    (row, *_) = rows([m])
    assert row.synthetic and row.paper is not None  # still compared, but marked with a dagger


def test_no_results_anywhere_is_an_error(tmp_path):
    (tmp_path / "m").mkdir()
    with pytest.raises(FileNotFoundError, match="no decode results in .*m/decode"):
        report([tmp_path / "m"], ReportOptions(tmp_path / "out"))
    with pytest.raises(FileNotFoundError, match="no model folder at"):
        report([tmp_path / "absent"], ReportOptions(tmp_path / "out"))


@pytest.mark.parametrize("setting, decoder, kind", [
    ("greedy", {"name": "greedy"}, "none"),
    ("beam", {"name": "flashlight", "lm": None}, "none"),
    ("4gram", {"name": "flashlight", "lm": "work/lm/x/lm.bin"}, "4gram"),  # the LM is gone: its setting name
    ("3gram", {"name": "pyctcdecode", "lm": "work/lm/3gram.arpa"}, "3gram"),
    ("lexfree", {"name": "lexfree", "lm": None}, "none"),
])
def test_lm_kind(setting, decoder, kind):
    assert lm_kind(setting, decoder) == kind


def test_lm_kind_reads_the_lms_info(tmp_path):
    # Whatever the setting is called, a word 4-gram is the paper's "4gram" column.
    (tmp_path / "lm").mkdir()
    (tmp_path / "lm" / "info.json").write_text('{"order": 4, "unit": "word"}')
    assert lm_kind("beam1500", {"name": "flashlight", "lm": str(tmp_path / "lm" / "x.bin")}) == "4gram"
    (tmp_path / "lm" / "info.json").write_text('{"order": 4, "unit": "letter"}')
    assert lm_kind("letters", {"name": "lexfree", "lm": str(tmp_path / "lm" / "x.bin")}) == "letters"


@pytest.mark.parametrize("labelled, size, lm, dev_other", [
    ("10min", "base", "none", 51.5), ("10 min", "facebook/wav2vec2-base", "4gram", 15.7),
    ("1hr", "LARGE", "transformer", 5.4), ("100h", "large", "4gram", 4.5),
    ("tiny", "base", "none", None), ("10min", "small", "none", None), ("10min", "base", "3gram", None),
])
def test_paper_lookup(labelled, size, lm, dev_other):
    found = paper.paper_wer(labelled, size, lm)
    assert (found or {}).get("dev-other") == dev_other


def _summary(model, split, wer):
    write_summary(result_dir(model, split, "greedy"), DecodeSummary(
        model=str(model), split=split, setting="greedy", wer=wer, cer=wer / 2, substitutions=1,
        deletions=0, insertions=0, ref_words=10, utterances=2))


def test_columns_follow_the_paper_order_then_others(models):
    base, tiny = models
    _summary(base, "test-other", 0.1)
    _summary(base, "my-calls", 0.3)
    ms = [load_model(base), load_model(tiny)]
    assert columns(ms) == ["dev-clean", "dev-other", "test-other", "my-calls"]
    assert [r.setting for r in rows(ms)] == ["greedy", "4gram", "greedy"]


def test_cli_prints_the_table_and_where_the_report_is(models, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ASRKIT_WORK", str(tmp_path))  # default --models: every model under work/models
    assert main(["report", "--out", str(tmp_path / "out"), "--no-model-card"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(TABLE)
    assert f"full report: {tmp_path / 'out' / 'report.html'}" in out
    assert not (models[0] / "README.md").exists()


def test_cli_error_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ASRKIT_WORK", str(tmp_path))
    assert main(["report"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("asrkit report: error: no model folders with decode results under") and err.count("\n") == 1

"""The workspace every stage defaults to, and the tests' own isolation from the user's."""

from pathlib import Path

from asrkit import workspace

CHECKOUT = Path(__file__).resolve().parent.parent


def test_tests_never_default_to_the_checkouts_work_folder():
    """`asrkit demo` fills the checkout's work/; a test reading it would pass or fail by
    what the user ran before (the report's synthetic-corpus check reads its manifests)."""
    root = workspace.root().resolve()
    assert root != (CHECKOUT / "work").resolve()
    assert not root.is_relative_to(CHECKOUT)
    assert workspace.manifests_dir().resolve().is_relative_to(root)


def test_asrkit_work_overrides_the_root(tmp_path, monkeypatch):
    monkeypatch.setenv("ASRKIT_WORK", str(tmp_path / "w"))
    assert workspace.models_dir() == tmp_path / "w" / "models"
    monkeypatch.delenv("ASRKIT_WORK")
    assert workspace.root() == Path("work")

"""The package runs from any folder: shipped recipes by name, never the current folder's."""

from __future__ import annotations

import pytest

from asrkit.config import find_recipe, load_recipe, recipes_dir
from asrkit.errors import InputNotFound


def test_a_shipped_recipe_is_found_by_name_from_any_folder(tmp_path, monkeypatch):
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "base_10min.yaml").write_text("train: {lr: 1.0}\n")  # a stranger's file
    monkeypatch.chdir(tmp_path)
    path = find_recipe("base_10min")
    assert path == recipes_dir() / "base_10min.yaml" and path.is_absolute()
    assert load_recipe(path).train.lr == 5e-5


def test_a_recipe_path_wins_over_a_shipped_name(tmp_path, monkeypatch):
    mine = tmp_path / "demo.yaml"
    mine.write_text("train: {lr: 0.5}\n")
    assert find_recipe(mine) == mine
    monkeypatch.chdir(tmp_path)
    assert find_recipe("demo.yaml") == mine.relative_to(tmp_path)


def test_an_unknown_recipe_lists_the_shipped_ones():
    with pytest.raises(InputNotFound, match="shipped: .*base_10min"):
        find_recipe("base_3min")

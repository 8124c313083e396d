"""Ships recipes/ (the readable source, at the top of the checkout) inside the package as
asrkit/recipes/, so that an installed asrkit finds them from any folder
(asrkit.config.recipes_dir). Everything else is configured in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithRecipes(build_py):
    def run(self):
        super().run()
        target = Path(self.build_lib) / "asrkit" / "recipes"
        target.mkdir(parents=True, exist_ok=True)
        for recipe in sorted(Path(__file__).parent.joinpath("recipes").glob("*.yaml")):
            shutil.copy2(recipe, target / recipe.name)


setup(cmdclass={"build_py": BuildWithRecipes})

"""Publishing: one repository URL, exercise links on every chapter page, offline maths."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
REPOSITORY = CONFIG["repository"]["url"].rstrip("/")
CHAPTERS = sorted(path.name for path in (ROOT / "solutions").iterdir() if path.is_dir())
GITHUB_URL = re.compile(r"(?:github\.com|colab\.research\.google\.com/github)/([\w.-]+/[\w.-]+?)(?:\.git)?(?=[/\"'\s)]|$)")


def load_extension():
    spec = importlib.util.spec_from_file_location("course_book", ROOT / "book" / "_ext" / "course_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def first_code_cell(notebook: Path) -> str:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return "".join(next(cell for cell in cells if cell["cell_type"] == "code")["source"])


def test_the_repository_url_is_a_github_url():
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", REPOSITORY), REPOSITORY


@pytest.mark.parametrize("folder", ["solutions", "notebooks"])
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_notebooks_install_cell_uses_the_configured_repository(folder, chapter):
    cell = first_code_cell(ROOT / folder / chapter / f"{chapter}.ipynb")
    assert f'"cnn-vision-course @ git+{REPOSITORY}"' in cell, (
        f"{folder}/{chapter}: the first cell must install the course from _config.yml's "
        f"repository.url ({REPOSITORY}); it says:\n{cell}"
    )


@pytest.mark.parametrize("document", ["README.md", "CONTRIBUTING.md"])
def test_documents_name_only_the_configured_repository(document):
    text = (ROOT / document).read_text(encoding="utf-8")
    expected = REPOSITORY.removeprefix("https://github.com/")
    others = {match for match in GITHUB_URL.findall(text) if match != expected}
    assert not others, f"{document} names other repositories than {expected}: {others}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_page_links_to_its_exercise(chapter):
    page = (ROOT / "book" / f"{chapter}.md").read_text(encoding="utf-8")
    assert f"```{{exercise-links}} {chapter}" in page
    exercises = (ROOT / "book" / "exercises.md").read_text(encoding="utf-8")
    assert f"```{{exercise-links}} {chapter}" in exercises


def test_exercise_links_are_built_from_the_configured_repository():
    extension = load_extension()
    config = SimpleNamespace(html_theme_options={"repository_url": REPOSITORY + "/",
                                                 "repository_branch": "main"})
    urls = extension.exercise_urls(config, "pooling")
    owner_repo = REPOSITORY.removeprefix("https://github.com/")
    assert urls["colab"] == (f"https://colab.research.google.com/github/{owner_repo}"
                             "/blob/main/notebooks/pooling/pooling.ipynb")
    assert (ROOT / urls["path"]).is_file()
    with pytest.raises(ValueError, match="GitHub URL"):
        extension.exercise_urls(SimpleNamespace(html_theme_options={"repository_url": "gitlab"}), "pooling")


def test_maths_is_served_from_the_book_not_a_cdn():
    sphinx = CONFIG["sphinx"]
    assert "sphinx-mathjax-offline" in sphinx["extra_extensions"]
    assert "mathjax_path" not in sphinx.get("config", {}), "mathjax_path would load MathJax from elsewhere"


def test_set_repository_rewrites_every_copy(tmp_path, capsys):
    import shutil

    spec = importlib.util.spec_from_file_location("set_repository", ROOT / "scripts" / "set_repository.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in ("_config.yml", "README.md", "CONTRIBUTING.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "solutions", tmp_path / "solutions")
    module.main("https://github.com/someone/cnn-course.git", root=tmp_path)
    new = "https://github.com/someone/cnn-course"
    assert yaml.safe_load((tmp_path / "_config.yml").read_text())["repository"]["url"] == new
    for chapter in CHAPTERS:
        assert f"git+{new}\"" in first_code_cell(tmp_path / "solutions" / chapter / f"{chapter}.ipynb")
    readme = (tmp_path / "README.md").read_text()
    assert REPOSITORY not in readme and "colab.research.google.com/github/someone/cnn-course/" in readme
    with pytest.raises(SystemExit):
        module.main("https://gitlab.com/a/b", root=tmp_path)

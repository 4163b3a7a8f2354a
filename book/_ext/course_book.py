"""Sphinx extension of the course book (loaded through `local_extensions` in _config.yml).

- ``{exercise-links} <chapter>``: a box with the ways to open a chapter's exercise notebook:
  Colab (built from the one repository URL of _config.yml), a download of the notebook copied
  into the book itself (works offline), and the command to run it locally.
- The student notebooks are copied into ``_static/exercises/`` of the built book.
- Each script is included once per page (sphinx-thebe adds its configuration twice, and the
  second ``const THEBE_JS_URL`` is a JavaScript error).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive, directives

ROOT = Path(__file__).resolve().parents[2]
EXERCISES = ROOT / "notebooks"


def repository(config) -> tuple[str, str]:
    """(repository URL, branch), from the `repository` section of _config.yml."""
    options = config.html_theme_options or {}
    url = options.get("repository_url", "").rstrip("/")
    if not url.startswith("https://github.com/"):
        raise ValueError(f"_config.yml repository.url must be a GitHub URL, got {url!r}")
    return url, options.get("repository_branch", "main")


def exercise_urls(config, chapter: str) -> dict[str, str]:
    url, branch = repository(config)
    path = f"notebooks/{chapter}/{chapter}.ipynb"
    return {
        "colab": f"https://colab.research.google.com/github/{url.removeprefix('https://github.com/')}"
                 f"/blob/{branch}/{path}",
        "github": f"{url}/blob/{branch}/{path}",
        "download": f"_static/exercises/{chapter}.ipynb",
        "path": path,
    }


class ExerciseLinks(Directive):
    required_arguments = 1
    has_content = False
    option_spec = {"title": directives.unchanged}

    def run(self):
        env = self.state.document.settings.env
        chapter = self.arguments[0]
        if not (EXERCISES / chapter / f"{chapter}.ipynb").is_file():
            raise self.error(f"exercise-links: no notebook notebooks/{chapter}/{chapter}.ipynb")
        urls = exercise_urls(env.config, chapter)
        depth = env.docname.count("/")
        download = "../" * depth + urls["download"]
        box = nodes.admonition(classes=["tip", "exercise-links"])
        box += nodes.title(text=self.options.get("title", "Open the exercise notebook"))
        items = nodes.bullet_list()
        for label, target in [("on Colab (installs the course in its first cell)", urls["colab"]),
                              ("download the notebook", download),
                              ("view it on GitHub", urls["github"])]:
            paragraph = nodes.paragraph()
            paragraph += nodes.reference(text=label.split(" (")[0], refuri=target)
            if " (" in label:
                paragraph += nodes.Text(" (" + label.split(" (", 1)[1])
            items += nodes.list_item("", paragraph)
        local = nodes.paragraph()
        local += nodes.Text("or locally: ")
        local += nodes.literal(text="bash course.sh book")
        local += nodes.Text(" once, then ")
        local += nodes.literal(text=f".venv/bin/jupyter lab {urls['path']}")
        items += nodes.list_item("", local)
        box += items
        return [box]


def copy_exercises(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / "exercises"
    target.mkdir(parents=True, exist_ok=True)
    for notebook in sorted(EXERCISES.glob("*/*.ipynb")):
        shutil.copy2(notebook, target / notebook.name)


def include_scripts_once(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in context.get("script_files", []):
        key = (str(getattr(script, "filename", script) or ""),  # None and "" both mean inline
               str(getattr(script, "attributes", {}).get("body", "")))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.add_directive("exercise-links", ExerciseLinks)
    app.connect("build-finished", copy_exercises)
    app.connect("html-page-context", include_scripts_once, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


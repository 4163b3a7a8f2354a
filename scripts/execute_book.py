"""Execute the book's pages in parallel, into the cache that `jupyter-book build` reads first.

`jupyter-book build` (``execute_notebooks: cache`` in _config.yml) executes the pages one
after the other as it reads them, and a page keeps about one core busy: on 2 cores, half
the machine waits. This script executes the pages of _toc.yml JOBS at a time, as myst-nb
would (same reader, same settings from _config.yml), and stores each executed page in the
jupyter-cache where myst-nb looks pages up. The build then uses those results, and executes
(and reports, with its traceback) only a page that is missing or failed here.

    python scripts/execute_book.py --jobs 2   # then: jupyter-book build . -W --keep-going --all
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import nullcontext
from pathlib import Path

import yaml
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from jupyter_cache.executors.utils import single_nb_execution
from myst_nb.core.read import myst_nb_reader_plugin

ROOT = Path(__file__).resolve().parents[1]


def toc_files(node) -> list[str]:
    """Every ``root`` and ``file`` entry of _toc.yml, nested parts and sections included."""
    if isinstance(node, list):
        return [name for item in node for name in toc_files(item)]
    if not isinstance(node, dict):
        return []
    names = [node[key] for key in ("root", "file") if key in node]
    return names + [name for key, value in node.items() if key not in ("root", "file")
                    for name in toc_files(value)]


def code_cells(page: Path) -> int:
    return page.read_text(encoding="utf-8").count("```{code-cell}")


def pages_with_code() -> list[Path]:
    """The pages of _toc.yml that have code, longest first (most code cells): the pool then
    ends with short pages instead of waiting for a long one that started last."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    pages = [ROOT / f"{name}.md" for name in toc_files(toc)]
    return sorted((p for p in pages if p.is_file() and code_cells(p)), key=code_cells, reverse=True)


def execute(page: Path, settings: dict):
    """(page, executed notebook, seconds, error text or None), as myst-nb executes a page."""
    notebook = myst_nb_reader_plugin(str(page))
    folder = tempfile.TemporaryDirectory() if settings.get("run_in_temp") else nullcontext(page.parent)
    with folder as cwd:
        result = single_nb_execution(notebook, cwd=str(cwd), timeout=settings["timeout"],
                                     allow_errors=settings["allow_errors"])
    return page, notebook, result.time, result.exc_string if result.err else None


def is_cached(cache, page: Path) -> bool:
    try:
        cache.match_cache_notebook(myst_nb_reader_plugin(str(page)))
    except KeyError:
        return False
    return True


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="pages executed at once")
    jobs = parser.parse_args(argv).jobs
    settings = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["execute"]
    if settings.get("execute_notebooks") != "cache":
        print("execute_notebooks is not 'cache': the build executes the pages itself")
        return 0
    cache = get_cache(ROOT / settings["cache"])
    pages = [page for page in pages_with_code() if not is_cached(cache, page)]
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        running = [pool.submit(execute, page, settings) for page in pages]
        for done in as_completed(running):
            page, notebook, seconds, error = done.result()
            if error:
                print(f"{page.name}: failed after {seconds:.0f} s (the build runs it again and "
                      "reports the error)", flush=True)
                continue
            bundle = CacheBundleIn(notebook, str(page), data={"execution_seconds": seconds})
            cache.cache_notebook_bundle(bundle, check_validity=False, overwrite=True)
            print(f"{page.name}: executed in {seconds:.0f} s and cached", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

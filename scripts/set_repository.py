"""Point the course at another GitHub repository: `python scripts/set_repository.py URL`.

The URL lives in _config.yml (`repository.url`); the book's exercise links are built from it.
This rewrites the copies that cannot read it (the notebooks' install cell, README, CONTRIBUTING);
run `make notebooks` afterwards. tests/test_publishing.py fails while any copy disagrees.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def main(new_url: str, root: Path = ROOT) -> None:
    new_url = new_url.rstrip("/").removesuffix(".git")
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", new_url):
        sys.exit(f"expected https://github.com/OWNER/REPOSITORY, got {new_url!r}")
    old_url = yaml.safe_load((root / "_config.yml").read_text())["repository"]["url"].rstrip("/")
    old_path, new_path = old_url.removeprefix("https://github.com/"), new_url.removeprefix("https://github.com/")
    files = [root / "_config.yml", root / "README.md", root / "CONTRIBUTING.md",
             *sorted((root / "solutions").glob("*/*.ipynb"))]
    for path in files:
        text = path.read_text(encoding="utf-8")
        updated = text.replace(old_url, new_url).replace(f"/github/{old_path}/", f"/github/{new_path}/")
        if updated != text:
            path.write_text(updated, encoding="utf-8")
            print(f"updated {path.relative_to(root)}")
    print("now run: make notebooks")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])

"""Where the course caches what it computes once: converted weights, trained models.

``$CNNVISION_CACHE`` when set, else ``~/.cache/cnnvision``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """The cache folder (created), or a subfolder of it."""
    root = Path(os.environ.get("CNNVISION_CACHE", Path.home() / ".cache" / "cnnvision"))
    folder = root.expanduser().joinpath(*parts)
    if not folder.is_dir():  # a read-only cache that exists (a grading kernel's) is fine
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def sha256_of(path: Path, chunk_size: int = 1 << 20) -> str:
    """The SHA-256 hex digest of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()

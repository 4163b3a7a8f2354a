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


def code_key(functions, config) -> str:
    """A key for a cached result: a hash of the functions' source code and of the
    configuration (JSON), so that changing either computes again instead of loading a
    result that no longer fits."""
    import inspect
    import json

    text = "".join(inspect.getsource(f) for f in functions) + json.dumps(config, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached_training(folder: Path, name: str, train, build, config: dict, extra=()):
    """Train once and keep the weights in ``folder``; later calls load them.

    ``build(config)`` returns a Keras model or a dict of them; ``train(config)`` builds,
    trains and returns ``(models, history)`` (the same kind). ``config["seed"]`` seeds Keras
    before training. The key is :func:`code_key` of ``train``, ``build`` and ``extra`` (more
    functions they use) and of ``config``. Returns ``(models, record)``, the record holding
    the training's ``seconds`` and ``history``. The record is written last: it marks a
    complete entry, so an interrupted run trains again.
    """
    import json
    import time

    import keras

    key = code_key((train, build, *extra), config)
    record_path = Path(folder) / f"{name}-{key}.json"

    def weights(part: str | None) -> Path:
        return Path(folder) / (f"{name}-{key}-{part}.weights.h5" if part else f"{name}-{key}.weights.h5")

    def parts(models) -> dict:
        return models if isinstance(models, dict) else {None: models}

    if record_path.exists():
        models = build(config)
        for part, model in parts(models).items():
            model.load_weights(weights(part))
        return models, json.loads(record_path.read_text())
    keras.utils.set_random_seed(config["seed"])
    start = time.perf_counter()
    models, history = train(config)
    record = {"seconds": time.perf_counter() - start, "history": history}
    for part, model in parts(models).items():
        model.save_weights(weights(part))
    temporary = record_path.with_name(f"tmp-{os.getpid()}-{record_path.name}")
    temporary.write_text(json.dumps(record))
    os.replace(temporary, record_path)
    return models, record

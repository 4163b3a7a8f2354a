"""Grade records (one JSON per student), the grades CSV, and the published files."""

from __future__ import annotations

import csv
import functools
import json
import platform
import shutil
from importlib import metadata
from pathlib import Path

from .preprocessors import is_test_cell


class RecordStore:
    """``records/<student>.json``; a record is replaced only by a newer grading of that student."""

    def __init__(self, folder: Path):
        self.folder = folder / "records"
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, student: str) -> Path:
        return self.folder / f"{student}.json"

    def has(self, student: str, digest: str) -> bool:
        path = self.path(student)
        return path.is_file() and json.loads(path.read_text()).get("digest") == digest

    def save(self, record: dict) -> None:
        path = self.path(record["student"])
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(record, indent=1, sort_keys=True))
        temporary.replace(path)  # atomic: a crash never leaves half a record

    def load_all(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted(self.folder.glob("*.json"))]


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


@functools.cache
def environment() -> dict:
    """Device and versions recorded in every grade (TensorFlow is asked which device it sees)."""
    import cnnvision  # noqa: F401 - quiet TensorFlow first

    try:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        device = "GPU: " + ", ".join(
            tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus
        ) if gpus else "CPU"
        tf_version, keras_version = tf.__version__, _version("keras")
    except ImportError:
        device, tf_version, keras_version = "CPU", "not installed", _version("keras")
    return {"device": device, "tensorflow": tf_version, "keras": keras_version,
            "numpy": _version("numpy"), "nbgrader": _version("nbgrader"),
            "python": platform.python_version()}


def exercises(release) -> dict[str, float]:
    """Test cell grade_id -> points, in notebook order."""
    return {c.metadata.nbgrader["grade_id"]: float(c.metadata.nbgrader.get("points", 0))
            for c in release.cells if is_test_cell(c)}


def _integrity(result: dict) -> list[str]:
    flags = []
    for verdict in result.get("guards", {}).values():
        flags += verdict.get("changes", [])
    for outcome in result.get("outcomes", {}).values():
        if outcome["kind"] == "IntegrityError":
            flags.append(outcome["message"])
    return list(dict.fromkeys(flags))


def make_record(sub, digest: str, result: dict, seconds: float, release, environment: dict,
                namespaces: bool) -> dict:
    points = exercises(release)
    grades = result.get("grades", {})
    scores = {gid: round(grades.get(gid, {}).get("score", 0.0), 4) for gid in points}
    outcomes = result.get("outcomes", {})
    reasons = list(sub.problems)
    fatal = sub.fatal or result.get("fatal")
    if fatal:
        reasons.insert(0, fatal)
    if result.get("stop_reason"):
        reasons.append(result["stop_reason"])
    if result.get("nbgrader_error") and not outcomes:
        reasons.append(f"nbgrader: {result['nbgrader_error'][:200]}")
    events = result.get("events", [])
    reasons += events + result.get("cell_errors", [])
    for gid in points:
        outcome = outcomes.get(gid)
        if outcome and outcome["kind"] != "ok":
            reasons.append(f"{gid}: {outcome['kind']}: {outcome['message']}")
    integrity = _integrity(result)
    return {
        "student": str(sub.student), "name": getattr(sub.student, "name", str(sub.student)),
        "lms_id": getattr(sub.student, "lms_id", None), "digest": digest,
        "score": round(sum(scores.values()), 4),
        "max_score": sum(points.values()), "scores": scores, "max_scores": points,
        "outcomes": outcomes, "reasons": reasons, "fatal": fatal,
        "fatal_kind": _fatal_kind(sub, result), "stop_kind": result.get("stop_kind"),
        "integrity": integrity, "events": events, "seconds": round(seconds, 2),
        "worker_seconds": result.get("worker_seconds"), "sandbox":
            "namespaces + audit hook" if namespaces else "audit hook only",
        "environment": environment,
    }


def _fatal_kind(sub, result: dict) -> str | None:
    if sub.fatal:
        return sub.fatal.split(":")[0]
    return result.get("fatal_kind")


def export_csv(all_records: list[dict], release, path: Path) -> Path:
    """One row per student: total, each exercise, reasons, integrity flag, environment."""
    points = exercises(release)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = ["student", "score", "max_score", *points, "integrity_flag", "name", "lms_id",
               "reasons", "seconds", "device", "tensorflow", "keras", "numpy"]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for record in all_records:
            env = record.get("environment", {})
            writer.writerow({
                "student": record["student"], "score": record["score"],
                "max_score": record["max_score"], **record["scores"],
                "integrity_flag": "yes" if record["integrity"] else "",
                "name": record.get("name", record["student"]),
                "lms_id": record.get("lms_id") or "",
                "reasons": " | ".join(record["reasons"]), "seconds": record["seconds"],
                **{k: env.get(k, "") for k in ("device", "tensorflow", "keras", "numpy")},
            })
    return path


def publish_files(workspace: Path, chapter: str, student: str, out_dir: Path) -> None:
    """Move the autograded notebook and the feedback into nbgrader's folders."""
    targets = {
        "autograded.ipynb": workspace / "autograded" / student / chapter / f"{chapter}.ipynb",
        "feedback.html": workspace / "feedback" / student / chapter / f"{chapter}.html",
    }
    for name, target in targets.items():
        if (out_dir / name).is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(out_dir / name, target)

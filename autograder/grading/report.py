"""The cohort report: one HTML page with figures (score histogram, pass rate per test)."""

from __future__ import annotations

import collections
import html
from pathlib import Path

from .records import exercises


def _figures(all_records: list[dict], points: dict, folder: Path) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    total = sum(points.values()) or 1
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist([r["score"] for r in all_records], bins=min(20, max(5, len(all_records))),
            range=(0, total), color="#4477aa", edgecolor="white")
    ax.set_xlabel(f"score (out of {total:g})")
    ax.set_ylabel("students")
    ax.set_title("Score distribution")
    fig.tight_layout()
    fig.savefig(folder / "scores.png", dpi=100)
    plt.close(fig)
    made.append(("scores.png", "Histogram of total scores: how many students got each score."))
    fig, ax = plt.subplots(figsize=(6, 0.5 + 0.4 * max(1, len(points))))
    rates = [_pass_rate(all_records, gid) for gid in points]
    ax.barh(list(points), rates, color="#228833")
    ax.set_xlim(0, 100)
    ax.invert_yaxis()
    ax.set_xlabel("students with full marks (%)")
    ax.set_title("Pass rate per test")
    fig.tight_layout()
    fig.savefig(folder / "pass_rate.png", dpi=100)
    plt.close(fig)
    made.append(("pass_rate.png", "Bar chart: share of students with full marks on each test."))
    return made


def _pass_rate(all_records: list[dict], gid: str) -> float:
    full = [r for r in all_records if r["scores"].get(gid, 0) >= r["max_scores"].get(gid, 1) > 0]
    return 100.0 * len(full) / max(1, len(all_records))


def failure_kinds(all_records: list[dict]) -> collections.Counter:
    """Counts of fatal kinds, stop kinds and per-test failure kinds."""
    kinds = collections.Counter()
    for record in all_records:
        if record.get("fatal_kind"):
            kinds[f"submission: {record['fatal_kind']}"] += 1
        if record.get("stop_kind"):
            kinds[f"run stopped: {record['stop_kind']}"] += 1
        for outcome in record.get("outcomes", {}).values():
            if outcome["kind"] != "ok":
                kinds[f"test: {outcome['kind']}"] += 1
    return kinds


def _table(headers: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def write_report(all_records: list[dict], release, folder: Path, chapter: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    points = exercises(release)
    figures = _figures(all_records, points, folder) if all_records else []
    flagged = [r for r in all_records if r["integrity"]]
    slowest = sorted(all_records, key=lambda r: r.get("seconds", 0), reverse=True)[:10]
    parts = [
        f"<h1>Cohort report: {html.escape(chapter)}</h1>",
        f"<p>{len(all_records)} students, mean score "
        f"{sum(r['score'] for r in all_records) / max(1, len(all_records)):.2f} / "
        f"{sum(points.values()):g}.</p>",
        *(f'<figure><img src="{name}" alt="{html.escape(alt)}"><figcaption>{html.escape(alt)}'
          "</figcaption></figure>" for name, alt in figures),
        "<h2>Integrity flags (check these by hand)</h2>",
        _table(["student", "what was found"], [[r["student"], "; ".join(r["integrity"])]
                                               for r in flagged]) if flagged else "<p>none</p>",
        "<h2>Pass rate per test</h2>",
        _table(["test", "points", "full marks (%)"],
               [[gid, pts, f"{_pass_rate(all_records, gid):.0f}"] for gid, pts in points.items()]),
        "<h2>Failures by kind</h2>",
        _table(["kind", "count"], failure_kinds(all_records).most_common()),
        "<h2>Slowest submissions</h2>",
        _table(["student", "seconds"], [[r["student"], r["seconds"]] for r in slowest]),
        "<h2>Every student</h2>",
        _table(["student", "name", "LMS id", "score", "reasons"],
               [[r["student"], r.get("name", r["student"]), r.get("lms_id") or "",
                 f"{r['score']:g} / {r['max_score']:g}", " | ".join(r["reasons"])]
                for r in all_records]),
    ]
    style = ("<style>body{font-family:sans-serif;max-width:60em;margin:auto}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;"
             "text-align:left;vertical-align:top}</style>")
    path = folder / "index.html"
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>{chapter}</title>"
                    f"{style}</head><body>{''.join(parts)}</body></html>", encoding="utf-8")
    return path

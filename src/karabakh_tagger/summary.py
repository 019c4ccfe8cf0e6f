"""Summarize a tagged archive for people: units per topic and stance share per outlet, day or article.

Reads the partition files that ``tag-archive`` wrote (Parquet with pyarrow, a file at a time and only
the grouping, topic and stance columns, so memory stays flat for hundreds of millions of rows; JSONL
likewise) and counts (group, topic) and (group, stance) with Arrow's hash aggregation. The run's
``_run.json`` supplies the model version and its evaluation for the caveat that goes with every table
and chart: these are a model's tags, not labels.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from karabakh_tagger.archive import RUN_FILE
from karabakh_tagger.errors import InputError
from karabakh_tagger.labels import TASKS

BY = ("auto", "outlet", "date", "article")
MAX_DAYS = 120
"""Past this many days a date summary is by month: a bar per day would be unreadable."""
NONE = "(none)"


@dataclass(frozen=True)
class Group:
    """One row of the summary."""

    name: str
    units: int
    topics: dict[str, int]
    stances: dict[str, int]

    def share(self, stance: str) -> float:
        return self.stances.get(stance, 0) / self.units if self.units else 0.0


@dataclass(frozen=True)
class Summary:
    """The counts per group, and what the reader must know to weigh them."""

    out_dir: Path
    by: str  # outlet, date, month or article
    groups: tuple[Group, ...]  # in display order
    hidden: int  # groups beyond the limit (their units are in ``total``)
    total: Group
    model: str
    caveat: str
    run: dict[str, Any] | None  # _run.json, None when the run did not finish


def _files(out_dir: Path) -> tuple[list[Path], str]:
    if not out_dir.is_dir():
        raise InputError(f"{out_dir}: no such folder; run karabakh-tagger tag-archive first")
    parquet, jsonl = sorted(out_dir.glob("part-*.parquet")), sorted(out_dir.glob("part-*.jsonl"))
    if not parquet and not jsonl:
        raise InputError(f"{out_dir}: no part-*.parquet or part-*.jsonl files; not a tag-archive output")
    return (parquet, "parquet") if parquet else (jsonl, "jsonl")


def _tables(files: list[Path], fmt: str, columns: list[str]) -> Any:
    """Each file's needed columns as an Arrow table, one file at a time."""
    import pyarrow as pa
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    for path in files:
        try:
            if fmt == "parquet":
                yield pq.read_table(path, columns=columns)
            else:
                yield pj.read_json(path).select(columns)
        except (pa.ArrowException, ValueError, KeyError, OSError) as err:
            raise InputError(f"{path}: cannot be read ({str(err).splitlines()[0] if str(err) else err})") \
                from None


def _counts(files: list[Path], fmt: str, column: str, day: bool) -> dict[str, Counter[tuple[str, str]]]:
    """(group, label) counts per task over every file."""
    import pyarrow.compute as pc

    counts: dict[str, Counter[tuple[str, str]]] = {task: Counter() for task in TASKS}
    for table in _tables(files, fmt, [column, *TASKS]):
        key = table.column(column)
        if day:
            key = pc.utf8_slice_codeunits(key.cast("string"), 0, 10)
        table = table.set_column(0, "group", pc.fill_null(key.cast("string"), NONE))
        for task in TASKS:
            done = table.group_by(["group", task]).aggregate([([], "count_all")])
            for group, label, n in zip(*(done.column(c).to_pylist() for c in ("group", task, "count_all")),
                                       strict=True):
                counts[task][(group, label)] += n
    return counts


def _groups(counts: dict[str, Counter[tuple[str, str]]]) -> dict[str, Group]:
    topics: dict[str, dict[str, int]] = {}
    stances: dict[str, dict[str, int]] = {}
    for (group, label), n in counts["topic"].items():
        topics.setdefault(group, {})[label] = n
    for (group, label), n in counts["stance"].items():
        stances.setdefault(group, {})[label] = n
    return {g: Group(g, sum(t.values()), t, stances.get(g, {})) for g, t in topics.items()}


def _by_month(groups: dict[str, Group]) -> dict[str, Group]:
    merged: dict[str, Group] = {}
    for name, g in groups.items():
        month = name[:7] if name != NONE else NONE
        old = merged.get(month, Group(month, 0, {}, {}))
        merged[month] = Group(month, old.units + g.units, dict(Counter(old.topics) + Counter(g.topics)),
                              dict(Counter(old.stances) + Counter(g.stances)))
    return merged


def _read_run(out_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((out_dir / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _model_and_caveat(out_dir: Path, run: dict[str, Any] | None) -> tuple[str, str]:
    model = run["model"] if run else None
    if model is None:  # an unfinished run: the partition records still name the model's manifest
        return "unknown (no _run.json)", ("The run did not finish (no _run.json): these are the partitions "
                                          "written so far. Tags are model predictions, not labels.")
    scores = model.get("evaluation") or {}
    stance, topic = scores.get("stance"), scores.get("topic")
    if stance and topic:
        quality = (f"held out by article, its macro-F1 was {topic['loao_macro_f1']:.2f} for topic and "
                   f"{stance['loao_macro_f1']:.2f} for stance on five articles of one story")
    else:
        quality = "it was not evaluated"
    return model["version"], (f"Tags are predictions of {model['version']}, not labels: {quality}, and "
                              "it is likely lower on other outlets. Compare shares across large groups; "
                              "do not quote a single sentence's tag as fact.")


def summarize(out_dir: Path, by: str = "auto", limit: int = 40) -> Summary:
    """Counts per group of a ``tag-archive`` output folder.

    ``auto`` groups by outlet when the archive has two or more, else by day when it has dates, else
    by article. Outlets and articles are listed by units (the first ``limit``); dates in order, by
    month past ``MAX_DAYS`` days.
    """
    if by not in BY:
        raise InputError(f"--by: choose one of {', '.join(BY)}")
    files, fmt = _files(out_dir)
    run = _read_run(out_dir)
    if by == "article":
        groups, shown_by = _groups(_counts(files, fmt, "article", day=False)), "article"
    else:
        outlets = _groups(_counts(files, fmt, "outlet", day=False)) if by in ("auto", "outlet") else {}
        days = _groups(_counts(files, fmt, "date", day=True)) if by in ("auto", "date") else {}
        real_outlets, real_days = set(outlets) - {NONE}, set(days) - {NONE}
        if by == "outlet" or (by == "auto" and len(real_outlets) >= 2):
            groups, shown_by = outlets, "outlet"
        elif by == "date" or real_days:
            groups, shown_by = days, "date"
        elif real_outlets:
            groups, shown_by = outlets, "outlet"
        else:
            groups, shown_by = _groups(_counts(files, fmt, "article", day=False)), "article"
    if shown_by == "date" and len(groups) > MAX_DAYS:
        groups, shown_by = _by_month(groups), "month"
    if shown_by in ("date", "month"):
        ordered = sorted(groups.values(), key=lambda g: (g.name == NONE, g.name))
    else:
        ordered = sorted(groups.values(), key=lambda g: (-g.units, g.name))
    shown = ordered if shown_by in ("date", "month") else ordered[:limit]
    total = Group("all", sum(g.units for g in ordered),
                  dict(sum((Counter(g.topics) for g in ordered), Counter())),
                  dict(sum((Counter(g.stances) for g in ordered), Counter())))
    model, caveat = _model_and_caveat(out_dir, run)
    return Summary(out_dir, shown_by, tuple(shown), len(ordered) - len(shown), total, model, caveat, run)


def render(summary: Summary, chart: Path | None = None) -> str:
    """The Markdown: where the numbers come from, units per topic, stance shares."""
    topics, stances = TASKS["topic"], TASKS["stance"]
    run = summary.run
    lines = [f"# Archive summary: {summary.out_dir}", ""]
    if run:
        c = run["counts"]
        lines.append(f"{c['articles']:,} articles, {c['units']:,} units in {c['partitions']:,} partitions; "
                     f"{c['problems']:,} problem(s) recorded in {RUN_FILE}; model {summary.model}.")
    else:
        lines.append(f"No {RUN_FILE}: the run did not finish; {summary.total.units:,} units in the files "
                     "so far.")
    lines += ["", f"> {summary.caveat}", ""]
    rows = [*summary.groups, summary.total]
    lines += [f"## Units per topic, by {summary.by}", "",
              f"| {summary.by} | units | " + " | ".join(topics) + " |",
              "|---|---:|" + "---:|" * len(topics)]
    lines += [f"| {_cell(g.name)} | {g.units:,} | " + " | ".join(f"{g.topics.get(t, 0):,}" for t in topics)
              + " |" for g in rows]
    lines += ["", f"## Stance share, by {summary.by}", "",
              f"| {summary.by} | units | " + " | ".join(stances) + " |",
              "|---|---:|" + "---:|" * len(stances)]
    lines += [f"| {_cell(g.name)} | {g.units:,} | " + " | ".join(f"{g.share(s):.1%}" for s in stances) + " |"
              for g in rows]
    if summary.hidden:
        lines += ["", f"{summary.hidden:,} more {summary.by} group(s) not shown (their units are in the "
                  "`all` row); pass --limit to show more."]
    if chart:
        lines += ["", f"![stance share by {summary.by}]({chart.name})"]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")[:60]


def write_chart(summary: Summary, path: Path) -> None:
    """A stacked bar chart of the stance shares per group, the model and the caveat in the caption."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from karabakh_tagger.files import atomic_write

    groups = list(summary.groups)
    colours = {"critical": "#c0392b", "neutral": "#bdc3c7", "supportive": "#2874a6"}
    timeline = summary.by in ("date", "month")
    n = max(1, len(groups))
    size = (max(7.0, min(16.0, 0.3 * n + 3)), 5.5) if timeline else (9.0, max(3.5, 0.32 * n + 2.2))
    fig, ax = plt.subplots(figsize=size)
    names = [textwrap.shorten(g.name, 40, placeholder="…") for g in groups]
    position = list(range(len(groups)))
    bottom = [0.0] * len(groups)
    for stance in TASKS["stance"]:
        shares = [g.share(stance) for g in groups]
        if timeline:
            ax.bar(position, shares, bottom=bottom, color=colours.get(stance), label=stance, width=0.85)
        else:
            ax.barh(position, shares, left=bottom, color=colours.get(stance), label=stance, height=0.75)
        bottom = [b + s for b, s in zip(bottom, shares, strict=True)]
    if timeline:
        ax.set_xticks(position, [f"{name} ({g.units:,})" for name, g in zip(names, groups, strict=True)],
                      rotation=60, ha="right", fontsize=8)
        ax.set_ylabel("share of units")
        ax.set_ylim(0, 1)
    else:
        ax.set_yticks(position, [f"{name} ({g.units:,})" for name, g in zip(names, groups, strict=True)],
                     fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("share of units")
        ax.set_xlim(0, 1)
    ax.set_title(f"Stance share per {summary.by} ({summary.total.units:,} units)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    fig.text(0.01, 0.01, textwrap.fill(summary.caveat, int(size[0] * 15)), fontsize=7, va="bottom")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


def default_chart(out_dir: Path) -> Path:
    """Where the chart goes without ``--out``: inside the output folder, under a name Parquet
    dataset readers skip."""
    return out_dir / "_summary.png"


"""Write the evaluation as files: ``metrics.json`` for machines, ``report.md`` and PNG plots for people.

Everything here is rendered from the typed :class:`~karabakh_tagger.results.Metrics`; no number is
computed or typed by hand.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from karabakh_tagger.files import atomic_write, atomic_write_text
from karabakh_tagger.labels import TASKS
from karabakh_tagger.results import Brief, FamilyResult, Metrics, Scores, TaskResult
from karabakh_tagger.typed import to_data

RULE = ("The rule (docs/model-choice.md, fixed before any comparison was run): a family's rule score "
        "per task is the mean of its nested leave-one-article-out and leave-one-batch-out macro-F1; per "
        "task the higher score wins, families within 0.01 tied and the faster of them winning. One family "
        "is recommended for both tasks: the best on stance; among families within 0.01 of it on stance, "
        "the one best on topic; then the faster.")
PROTOCOLS = {"loao": "nested leave-one-article-out (real units)",
             "lobo": "nested leave-one-batch-out (composed batches)"}


def _plot(path: Path, draw: Callable[[Any], Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = draw(plt)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)


def _confusion(plt: Any, title: str, scores: Scores, labels: tuple[str, ...]) -> Any:
    import numpy as np

    matrix = np.array(scores.confusion)
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * len(labels), 0.8 + 0.6 * len(labels)))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i, j in np.ndindex(matrix.shape):
        ax.text(j, i, str(matrix[i, j]), ha="center", va="center",
                color="white" if matrix[i, j] > matrix.max() / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title)
    return fig


def _learning_curve(plt: Any, metrics: Metrics) -> Any:
    fig, axes = plt.subplots(1, len(TASKS), figsize=(5 * len(TASKS), 3.6), sharey=True)
    for ax, task in zip(axes, TASKS, strict=True):
        for family, result in metrics.families.items():
            points = result.tasks[task].learning_curve
            xs = [p.composed_rows for p in points]
            ax.plot(xs, [p.loao_macro_f1 for p in points], marker="o",
                    label=f"{family}: leave-one-article-out")
            if all(p.lobo_macro_f1 is not None for p in points):
                ax.plot(xs, [p.lobo_macro_f1 for p in points], marker="s", linestyle="--",
                        label=f"{family}: leave-one-batch-out")
        ax.set_xlabel("composed rows in training")
        ax.set_title(task)
    axes[0].set_ylabel("pooled macro-F1 (default hyperparameters)")
    axes[-1].legend(fontsize=8)
    return fig


def _reliability(plt: Any, metrics: Metrics) -> Any:
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot([0, 1], [0, 1], ":", color="grey")
    for family, result in metrics.families.items():
        for task in TASKS:
            cal = result.tasks[task].calibration
            ax.plot([b.mean_confidence for b in cal.bins], [b.accuracy for b in cal.bins], marker="o",
                    label=f"{family} {task} (Brier {cal.brier:.3f})")
    ax.set_xlabel("confidence of the predicted class")
    ax.set_ylabel("accuracy")
    ax.set_title("Reliability (nested leave-one-article-out)")
    ax.legend(fontsize=8)
    return fig


def _f(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _row(name: str, b: Brief, stance: bool) -> str:
    return f"| {name} | {_f(b.macro_f1)} | {_f(b.accuracy)} |" + (f" {_f(b.f_avg)} |" if stance else "")


def _protocol_table(key: str, r: TaskResult, stance: bool) -> list[str]:
    scores = r.loao if key == "loao" else r.lobo
    if scores is None:
        return []
    head = "| method | macro-F1 | accuracy |" + (" F_avg |" if stance else "")
    lines = [f"**{PROTOCOLS[key]}**", "", head, "|---|---|---|" + ("---|" if stance else ""),
             _row("**model**", scores.brief(), stance)]
    lines += [_row(f"dummy: {s.replace('_', ' ')}", b, stance) for s, b in r.baselines[key].items()]
    if key == "loao" and r.random_split is not None:
        lines.append(_row("model, shuffled random split (leaky)", r.random_split, stance))
    lines += ["", "| held out | train rows | test rows | macro-F1 | accuracy | chosen |",
              "|---|---|---|---|---|---|"]
    for fold in scores.folds:
        chosen = ", ".join(f"{k}={v}" for k, v in fold.params.items())
        lines.append(f"| {fold.held_out} | {fold.n_train} | {fold.n_test} | {fold.macro_f1:.3f} | "
                     f"{fold.accuracy:.3f} | {chosen} |")
    lines += [f"| mean ± sd | | | {scores.folds_mean:.3f} ± {scores.folds_std:.3f} | | |", ""]
    return lines


def _task_section(family: str, task: str, r: TaskResult) -> list[str]:
    stance = task == "stance"
    lines = [f"### {family}: {task}", ""]
    lines += _protocol_table("loao", r, stance) + _protocol_table("lobo", r, stance)
    lines += ["Per class, leave-one-article-out (real units):", "",
              "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {m.precision:.2f} | {m.recall:.2f} | {m.f1:.2f} | {m.support} |"
              for name, m in r.loao.per_class.items()]
    lines += ["", f"![{family} {task} confusion matrix](confusion_{family}_{task}.png)", ""]
    if r.top_features:
        lines += ["Most weighted features of the final model:", ""]
        lines += [f"- **{name}**: {', '.join(grams)}" for name, grams in r.top_features.items()]
        lines.append("")
    return lines


def _data_section(metrics: Metrics) -> list[str]:
    d = metrics.data
    lines = ["## Data", "",
             f"{d.corpus_units} labelled units of {len(d.articles)} real articles (every one of them "
             f"retells the same French-angle wire story of 17-19 November 2020), and {d.composed_rows} "
             "composed sentences in batches (`labels/authored/`): written by the project's writers "
             "in the voices of other outlets, never copied from news text, each labelled by "
             "`labels/GUIDELINES.md` and labelled a second time, blind, by another writer who saw only "
             "the text and the guideline. Disagreements were settled by the guideline; the label of a "
             "row is the settled one. Composed rows only ever train in leave-one-article-out.", ""]
    if d.batches:
        lines += ["| batch | rows | nearest-neighbour cosine: median / 90th pct / max | kappa topic "
                  "| kappa stance |", "|---|---|---|---|---|"]
        for name, b in d.batches.items():
            lines.append(f"| {name} | {b.rows} | {b.nearest_cosine_median:.2f} / "
                         f"{b.nearest_cosine_p90:.2f} / {b.nearest_cosine_max:.2f} | "
                         f"{_f(b.kappa.topic if b.kappa else None)} | "
                         f"{_f(b.kappa.stance if b.kappa else None)} |")
        if d.kappa_all:
            lines.append(f"| **all** | {d.composed_rows} | | **{d.kappa_all.topic:.3f}** | "
                         f"**{d.kappa_all.stance:.3f}** |")
        lines += ["", "The cosine is word 1-2-gram TF-IDF to the closest other row (composed or "
                  "corpus); the validator refuses a pair at 0.8. Kappa is Cohen's, first labels "
                  "against the blind second labels, before adjudication.", ""]
    return lines


def choice_table(metrics: Metrics) -> list[str]:
    """The family rule's inputs and scores per family and task, and its verdict (report and README)."""
    lines = ["| family | task | leave-one-article-out | leave-one-batch-out | rule score (mean) | "
             "sentences/s |", "|---|---|---|---|---|---|"]
    for family, per in metrics.rule.items():
        for task, row in per.items():
            lines.append(f"| {family} | {task} | {row.loao_macro_f1:.3f} | {_f(row.lobo_macro_f1)} | "
                         f"{row.rule_score:.3f} | {row.sentences_per_second:,.0f} |")
    winners = "; ".join(f"{task}: **{w}**" for task, w in metrics.winners.items())
    return [*lines, "", f"Winner per task (ties within 0.01 to the faster): {winners}. Recommended for "
            "both tasks (best on stance, ties within 0.01 decided by topic, then speed): "
            f"**{metrics.recommended}**."]


def _comparison(metrics: Metrics) -> list[str]:
    return ["## Choosing the model", "", RULE, "", *choice_table(metrics), ""]


def _learning_section(metrics: Metrics) -> list[str]:
    lines = ["## Learning curve over the composed rows", "",
             "Each point trains the config's default hyperparameters (no search) on the real articles "
             "plus a seeded sample of that many composed rows from the fold's training batches, and "
             "scores both protocols. 0 composed rows is the seed articles alone.", "",
             "| family | task | composed rows | leave-one-article-out | leave-one-batch-out |",
             "|---|---|---|---|---|"]
    for family, result in metrics.families.items():
        for task in TASKS:
            for p in result.tasks[task].learning_curve:
                lines.append(f"| {family} | {task} | {p.composed_rows} | {p.loao_macro_f1:.3f} | "
                             f"{_f(p.lobo_macro_f1)} |")
    return [*lines, "", "![learning curve](learning_curve.png)", ""]


def _calibration_section(metrics: Metrics) -> list[str]:
    lines = ["## Calibration", "", "Nested leave-one-article-out probabilities; multiclass Brier "
             "score (lower is better) and top-class confidence against accuracy.", "",
             "| family | task | Brier | confidence bin | units | mean confidence | accuracy |",
             "|---|---|---|---|---|---|---|"]
    for family, result in metrics.families.items():
        for task in TASKS:
            cal = result.tasks[task].calibration
            for b in cal.bins:
                lines.append(f"| {family} | {task} | {cal.brier:.3f} | {b.lower:.1f}-{b.upper:.1f} | "
                             f"{b.count} | {b.mean_confidence:.2f} | {b.accuracy:.2f} |")
    return [*lines, "", "![reliability](reliability.png)", ""]


def headline(result: FamilyResult) -> str:
    """One sentence of a family's headline numbers (also the CLI's and the card's)."""
    parts = []
    for task in TASKS:
        r = result.tasks[task]
        best = max(b.macro_f1 for b in r.baselines["loao"].values())
        lobo = f", leave-one-batch-out {r.lobo.macro_f1:.3f}" if r.lobo else ""
        parts.append(f"{task} macro-F1 {r.loao.macro_f1:.3f} leave-one-article-out (best dummy "
                     f"{best:.3f}){lobo}")
    return "; ".join(parts)


def render_markdown(metrics: Metrics) -> str:
    """The human report."""
    small = sorted({c for r in metrics.families.values() for t in r.tasks.values()
                    for c in t.small_classes})
    lines = ["# Evaluation report", "", f"Generated by `make eval` on {metrics.created}.", "",
             "**What these numbers mean.** The headline is nested leave-one-article-out on the five "
             "real articles: the outer loop holds out one article, the inner search chooses "
             "hyperparameters inside the training rows only, copies of a sentence never sit on both "
             "sides, and scores are pooled over the held-out articles (macro-F1 over the classes "
             "present). Five articles of one story are a small and narrow test: treat every figure "
             "as ±0.1 at best, and expect lower scores on other outlets. Leave-one-batch-out holds "
             "out one batch of composed sentences: it scores composed text, not news, and shows how "
             "well a model carries over to a writer and voices it has not seen. Classes with fewer "
             f"than 10 real units ({', '.join(small) or 'none'}) have per-class scores resting on a "
             "handful of sentences.", ""]
    for family, result in metrics.families.items():
        lines += [f"- **{family}** ({result.description}): {headline(result)}."]
    lines.append("")
    lines += _data_section(metrics) + _comparison(metrics)
    lines += ["## Scores per family and task", ""]
    for family, result in metrics.families.items():
        for task in TASKS:
            lines += _task_section(family, task, result.tasks[task])
    lines += _learning_section(metrics) + _calibration_section(metrics)
    return "\n".join(lines)


def write_reports(metrics: Metrics, out_dir: Path) -> list[Path]:
    """Write metrics.json, report.md and the PNG plots into ``out_dir``."""
    written = []
    for family, result in metrics.families.items():
        for task in TASKS:
            path = out_dir / f"confusion_{family}_{task}.png"
            labels = tuple(result.tasks[task].loao.per_class)
            _plot(path, lambda plt, f=family, t=task, lab=labels: _confusion(
                plt, f"{f} {t}: nested leave-one-article-out", metrics.families[f].tasks[t].loao, lab))
            written.append(path)
    _plot(out_dir / "learning_curve.png", lambda plt: _learning_curve(plt, metrics))
    _plot(out_dir / "reliability.png", lambda plt: _reliability(plt, metrics))
    written += [out_dir / "learning_curve.png", out_dir / "reliability.png"]
    atomic_write_text(out_dir / "metrics.json", json.dumps(to_data(metrics), indent=2) + "\n")
    atomic_write_text(out_dir / "report.md", render_markdown(metrics))
    return [out_dir / "metrics.json", out_dir / "report.md", *written]

"""Write the evaluation as files: ``metrics.json`` for machines, ``report.md`` and PNG plots for people."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from karabakh_tagger.files import atomic_write, atomic_write_text
from karabakh_tagger.labels import TASKS


def _plot(path: Path, draw: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = draw(plt)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)


def _confusion(plt: Any, task: str, result: dict[str, Any]) -> Any:
    import numpy as np

    matrix = np.array(result["confusion"]["matrix"])
    labels = result["confusion"]["labels"]
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * len(labels), 0.8 + 0.6 * len(labels)))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i, j in np.ndindex(matrix.shape):
        ax.text(j, i, str(matrix[i, j]), ha="center", va="center",
                color="white" if matrix[i, j] > matrix.max() / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(f"{task}: nested leave-one-article-out CV")
    return fig


def _learning_curve(plt: Any, metrics: dict[str, Any]) -> Any:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for task in TASKS:
        points = metrics[task]["learning_curve"]
        ax.errorbar([p["n_articles"] for p in points], [p["macro_f1_mean"] for p in points],
                    yerr=[p["macro_f1_std"] for p in points], marker="o", capsize=3, label=task)
    ax.set_xticks([p["n_articles"] for p in metrics["topic"]["learning_curve"]])
    ax.set_xlabel("training articles")
    ax.set_ylabel("macro-F1 on the held-out article")
    ax.set_title("Learning curve (default hyperparameters)")
    ax.legend()
    return fig


def _reliability(plt: Any, metrics: dict[str, Any]) -> Any:
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot([0, 1], [0, 1], ":", color="grey")
    for task in TASKS:
        bins = metrics[task]["calibration"]["bins"]
        ax.plot([b["mean_confidence"] for b in bins], [b["accuracy"] for b in bins], marker="o",
                label=f"{task} (Brier {metrics[task]['calibration']['brier']:.3f})")
    ax.set_xlabel("confidence of the predicted class")
    ax.set_ylabel("accuracy")
    ax.set_title("Reliability (nested CV)")
    ax.legend()
    return fig


def _task_section(task: str, r: dict[str, Any]) -> list[str]:
    base = r["baselines"]
    extra = task == "stance"
    head = "| method | macro-F1 | accuracy |" + (" F_avg |" if extra else "")
    lines = [f"## {task}", "", head, "|---|---|---|" + ("---|" if extra else "")]

    def row(name: str, m: dict[str, Any]) -> str:
        return (f"| {name} | {m['macro_f1']:.3f} | {m['accuracy']:.3f} |"
                + (f" {m['f_avg']:.3f} |" if extra else ""))

    lines += [row("**model, nested leave-one-article-out**", r),
              row("dummy: most frequent", base["most_frequent"]),
              row("dummy: stratified", base["stratified"])]
    rnd = r["random_split"]
    lines += [f"| model, shuffled random 5-fold (leaky) | {rnd['macro_f1']:.3f} | "
              f"{rnd['accuracy']:.3f} |" + (" |" if extra else ""), ""]
    lines += ["Per held-out article:", "", "| article | train rows | test rows | macro-F1 | accuracy "
              "| chosen |", "|---|---|---|---|---|---|"]
    for f in r["folds"]:
        chosen = ", ".join(f"{k}={v}" for k, v in f.get("params", {}).items())
        lines.append(f"| {f['held_out']} | {f['n_train']} | {f['n_test']} | {f['macro_f1']:.3f} "
                     f"| {f['accuracy']:.3f} | {chosen} |")
    lines += [f"| mean ± sd | | | {r['folds_mean']:.3f} ± {r['folds_std']:.3f} | | |", ""]
    lines += ["| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {m['precision']:.2f} | {m['recall']:.2f} | {m['f1']:.2f} | {m['support']} |"
              for name, m in r["per_class"].items()]
    lines += ["", f"![{task} confusion matrix](confusion_{task}.png)", ""]
    if r.get("top_ngrams"):
        lines += ["Most weighted n-grams of the final model:", ""]
        lines += [f"- **{name}**: {', '.join(grams)}" for name, grams in r["top_ngrams"].items()]
        lines.append("")
    return lines


def render_markdown(metrics: dict[str, Any]) -> str:
    """The human report."""
    t, s = metrics["topic"], metrics["stance"]
    small = sorted(set(t["small_classes"]) | set(s["small_classes"]))
    best = {task: max(b["macro_f1"] for b in metrics[task]["baselines"].values())
            for task in TASKS}
    lines = [
        "# Evaluation report", "",
        f"Nested cross-validation on {metrics['rows']} labelled units of 5 articles: the outer loop "
        "holds out one article, the inner loop chooses hyperparameters by holding out one of the "
        "remaining articles, and copies of a sentence never sit on both sides of a split. Scores "
        "are pooled over the five held-out articles; macro-F1 averages the classes present in the "
        "gold labels.", "",
    ]
    if metrics.get("authored_training_rows"):
        lines += [f"Training folds also contained {metrics['authored_training_rows']} authored "
                  "sentences (written by the developers, not news text); every score is computed "
                  "on the real articles only.", ""]
    lines += [
        "**What these numbers mean.** With about a hundred sentences from a single wire story, "
        f"the topic model reaches macro-F1 {t['macro_f1']:.2f} against {best['topic']:.2f} "
        f"for the better dummy baseline, and stance {s['macro_f1']:.2f} against "
        f"{best['stance']:.2f}. The shuffled random split scores "
        f"{t['random_split']['macro_f1']:.2f} / {s['random_split']['macro_f1']:.2f}: that gap is "
        "what near-copies leaking across folds would add, which is why it is not the headline. "
        "The per-article scores vary widely, so treat every figure as ±0.1 at best. Classes with "
        f"fewer than 10 examples ({', '.join(small)}) are too small to trust: their per-class "
        "scores rest on a handful of sentences, and a model tagging new articles will rarely "
        "produce them.", "",
    ]
    lines += _task_section("topic", t) + _task_section("stance", s)
    lines += ["## Learning curve", "",
              "Mean ± sd over every choice of training articles and held-out article, with the "
              "config's default hyperparameters (no search). Each score is one held-out article's "
              "macro-F1 over the classes that article has, so the values run higher than the pooled "
              "scores above; the slope is the point: more articles still help.", "",
              "| training articles | topic macro-F1 | stance macro-F1 |",
              "|---|---|---|"]
    for pt, ps in zip(t["learning_curve"], s["learning_curve"], strict=True):
        lines.append(f"| {pt['n_articles']} | {pt['macro_f1_mean']:.3f} ± {pt['macro_f1_std']:.3f}"
                     f" | {ps['macro_f1_mean']:.3f} ± {ps['macro_f1_std']:.3f} |")
    lines += ["", "![learning curve](learning_curve.png)", "", "## Calibration", "",
              f"Brier score (multiclass, lower is better): topic {t['calibration']['brier']:.3f}, "
              f"stance {s['calibration']['brier']:.3f}.", "",
              "| task | confidence bin | units | mean confidence | accuracy |", "|---|---|---|---|---|"]
    for task in TASKS:
        for b in metrics[task]["calibration"]["bins"]:
            lines.append(f"| {task} | {b['from']:.1f}-{b['to']:.1f} | {b['count']} | "
                         f"{b['mean_confidence']:.2f} | {b['accuracy']:.2f} |")
    lines += ["", "![reliability](reliability.png)", ""]
    if "authored_effect" in metrics:
        lines += _authored_section(metrics["authored_effect"])
    return "\n".join(lines)


def _authored_section(effect: dict[str, Any]) -> list[str]:
    """Nested-CV scores with and without the authored training rows, per task and per class."""
    n = effect["with"]["authored_training_rows"]
    lines = ["## Authored examples: measured effect", "",
             f"`labels/authored.jsonl` holds {n} sentences written by the project's developers (not "
             "news text) for the thinnest classes. They only ever enter training folds; both columns "
             "below are nested leave-one-article-out scores on the real articles alone. "
             "`use_authored` in the config decides whether the shipped model uses them.", "",
             "| task | class | without | with |", "|---|---|---|---|"]
    for task in TASKS:
        w, a = effect["without"][task], effect["with"][task]
        lines.append(f"| {task} | **macro-F1** | {w['macro_f1']:.3f} | {a['macro_f1']:.3f} |")
        if "f_avg" in w:
            lines.append(f"| {task} | F_avg | {w['f_avg']:.3f} | {a['f_avg']:.3f} |")
        lines += [f"| {task} | {c} | {w['per_class_f1'][c]:.2f} | {a['per_class_f1'][c]:.2f} |"
                  for c in w["per_class_f1"]]
    return [*lines, ""]


def write_reports(metrics: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write metrics.json, report.md and the PNG plots into ``out_dir``."""
    written = []
    for task in TASKS:
        path = out_dir / f"confusion_{task}.png"
        _plot(path, lambda plt, t=task: _confusion(plt, t, metrics[t]))
        written.append(path)
    _plot(out_dir / "learning_curve.png", lambda plt: _learning_curve(plt, metrics))
    _plot(out_dir / "reliability.png", lambda plt: _reliability(plt, metrics))
    written += [out_dir / "learning_curve.png", out_dir / "reliability.png"]
    atomic_write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    atomic_write_text(out_dir / "report.md", render_markdown(metrics))
    return [out_dir / "metrics.json", out_dir / "report.md", *written]

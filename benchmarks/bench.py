"""Speed, memory and size benchmark of the tagger, in one run, against bare pipelines.

The machine this runs on is small and noisy, so every speed is the median of ``--repeats``
rounds, the rows are measured round-robin (each round times every row once, so a slow spell hits
all rows alike), and every comparison is a RATIO against the bare pipelines measured in the same
run: the median over rounds of the per-round ratio.

Input: the corpus articles (``data/articles/*.txt``) repeated, with blank lines between them,
until the project's segmenter finds about ``--sentences`` units in the file. Rows:

a. segmentation alone (``karabakh_tagger.segment.segment`` on the whole text);
b. the bare saved pipelines (``joblib.load``), ``predict_proba`` of topic then stance on the
   pre-split unit texts: THE REFERENCE;
c. a bare word-bigram TF-IDF + LR pair (``TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)``
   + ``LogisticRegression``, fitted here on ``labels/sentences.jsonl``) on the same unit texts;
d. the Python API, ``load_tagger(models).tag_many([text])`` (the load is timed separately);
e. the CLI end to end, ``karabakh-tagger tag FILE > /dev/null --jobs 1`` (wall time, including
   process start, imports and model load);
f. the same with ``--jobs 2``.

Also: model load time (``load_tagger`` in-process after the imports are warm, and the CLI's
start-up on an empty stdin), peak memory of the CLI on the big file, artifact sizes and, unless
``--skip-train-eval``, the wall time of ``karabakh-tagger train`` and ``karabakh-tagger eval``
into temporary folders. Targets are printed beside the numbers with PASS/FAIL.

Run from anywhere (``make bench`` runs it as below)::

    .venv/bin/python benchmarks/bench.py --models models --out reports/bench.md
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from karabakh_tagger import artifacts
from karabakh_tagger.files import atomic_write_text
from karabakh_tagger.segment import segment
from karabakh_tagger.tag import cpu_count

ROOT = Path(__file__).resolve().parents[1]

ARTICLES = ROOT / "data" / "articles"
LABELS = ROOT / "labels" / "sentences.jsonl"
TASKS = ("topic", "stance")

# Targets of the issue.
CLI_VS_BIGRAM_MAX = 2.0  # CLI time per sentence <= 2x the bare word-bigram pair's
JOBS2_SPEEDUP_MIN = 1.6  # --jobs 2 at least 1.6x faster than --jobs 1
LOAD_MAX_S = 0.3
ARTIFACTS_MAX_BYTES = 5 * 1024 * 1024
TRAIN_EVAL_MAX_S = 600.0  # both model families, nested, on about 3,400 rows
PEAK_RSS_MAX_BYTES = 300 * 1024 * 1024


# --------------------------------------------------------------------------- environment


def sub_env() -> dict[str, str]:
    """Environment of every subprocess: offline Hugging Face, fixed hash seed."""
    env = dict(os.environ)
    env.update(HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", PYTHONHASHSEED="0")
    return env


def cli_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m``."""
    script = Path(sys.executable).parent / "karabakh-tagger"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "karabakh_tagger.cli"]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


# --------------------------------------------------------------------------- data


def build_text(target: int) -> tuple[str, int, int]:
    """The corpus articles repeated (blank lines between) to about ``target`` units.

    Returns the text, the number of copies of the corpus and the units ``segment`` finds in it.
    """
    one_copy = "\n\n".join(p.read_text(encoding="utf-8") for p in sorted(ARTICLES.glob("*.txt")))
    per_copy = len(segment(one_copy))
    if per_copy == 0:
        raise SystemExit(f"{ARTICLES}: no units in the corpus articles")
    copies = max(1, round(target / per_copy))
    text = "\n\n".join([one_copy] * copies) + "\n"
    return text, copies, len(segment(text))


def bigram_pair() -> dict[str, Any]:
    """A bare word-bigram TF-IDF + LR pipeline per task, fitted on the labelled units."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    rows = [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [r["text"] for r in rows]
    pair = {}
    for task in TASKS:
        pipeline = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                                 LogisticRegression(max_iter=1000))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pair[task] = pipeline.fit(texts, [r[task] for r in rows])
    return pair


# --------------------------------------------------------------------------- measuring


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(func: Callable[[], Any]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of ``func``: this process's CPU plus that of reaped children."""
    cpu, kids = time.process_time(), children_cpu()
    start = time.perf_counter()
    func()
    wall = time.perf_counter() - start
    return wall, time.process_time() - cpu + children_cpu() - kids


def run_cli(args: list[str], stdin: Any = subprocess.DEVNULL) -> float:
    """Wall time of one CLI run with stdout to /dev/null; a failed run stops the benchmark."""
    start = time.perf_counter()
    done = subprocess.run(cli_command() + args, stdin=stdin, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env=sub_env(), cwd=ROOT, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"karabakh-tagger {' '.join(args)} failed ({done.returncode}):\n"
                         + done.stderr.decode(errors="replace"))
    return seconds


def burn(n: int) -> int:
    """Pure-Python CPU work, for the parallel-capacity control."""
    total = 0
    for i in range(n):
        total += i * i
    return total


def calibrate_burn(seconds: float = 0.4) -> int:
    n = 200_000
    while True:
        start = time.perf_counter()
        burn(n)
        took = time.perf_counter() - start
        if took > 0.05:
            return max(1, int(n * seconds / took))
        n *= 4


def parallel_capacity(pool: Any, n: int) -> float:
    """Speed-up of two CPU-bound tasks on two worker processes over one after the other, now.

    The ceiling any ``--jobs 2`` can reach on this machine at this moment (2.0 on two idle cores;
    about 1.0 when other work already keeps the cores busy).
    """
    start = time.perf_counter()
    burn(n)
    burn(n)
    serial = time.perf_counter() - start
    start = time.perf_counter()
    pool.map(burn, [n, n], chunksize=1)
    return serial / (time.perf_counter() - start)


def peak_memory(args: list[str], out_path: Path) -> tuple[int, str, int]:
    """Peak RSS in bytes of one CLI run (stdout to ``out_path``), the method, and output lines."""
    time_bin = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    with out_path.open("wb") as out:
        if time_bin:
            done = subprocess.run([time_bin, "-v", *cli_command(), *args], stdout=out,
                                  stderr=subprocess.PIPE, env=sub_env(), cwd=ROOT, check=False)
            err = done.stderr.decode(errors="replace")
            match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
            if done.returncode == 0 and match:
                peak, method = int(match.group(1)) * 1024, "/usr/bin/time -v"
            else:
                time_bin = None  # not GNU time: fall back below
        if not time_bin:
            out.seek(0)
            out.truncate()
            wrapper = ("import resource, subprocess, sys\n"
                       "rc = subprocess.run(sys.argv[1:]).returncode\n"
                       "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
                       "sys.exit(rc)\n")
            done = subprocess.run([sys.executable, "-c", wrapper, *cli_command(), *args], stdout=out,
                                  stderr=subprocess.PIPE, env=sub_env(), cwd=ROOT, check=False)
            err = done.stderr.decode(errors="replace")
            # ru_maxrss is in kilobytes on Linux, in bytes on macOS.
            last = err.strip().splitlines()[-1] if err.strip() else "0"
            peak = int(last) * (1 if sys.platform == "darwin" else 1024)
            method = "getrusage(RUSAGE_CHILDREN)"
        if done.returncode != 0:
            raise SystemExit(f"karabakh-tagger {' '.join(args)} failed ({done.returncode}):\n{err}")
    with out_path.open("rb") as handle:
        lines = sum(1 for _ in handle)
    return peak, method, lines


def run_once(args: list[str]) -> float:
    """Wall time of one non-tag CLI command (train, eval), output captured."""
    start = time.perf_counter()
    done = subprocess.run(cli_command() + args, capture_output=True, env=sub_env(), cwd=ROOT,
                          check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"karabakh-tagger {' '.join(args)} failed ({done.returncode}):\n"
                         + done.stderr.decode(errors="replace"))
    return seconds


def paired_ratio(num: list[float], den: list[float]) -> float:
    """Median over rounds of num[i] / den[i] (both timed in the same round)."""
    return statistics.median(a / b for a, b in zip(num, den, strict=True))


def mark(ok: bool) -> str:
    return "**PASS**" if ok else "**FAIL**"


def fmt_load(load: tuple[float, float, float] | None) -> str:
    return "n/a" if load is None else " / ".join(f"{x:.2f}" for x in load)


def mib(n: float) -> str:
    return f"{n / 1024 / 1024:,.2f} MiB"


# --------------------------------------------------------------------------- measure and render

ROW_LABELS = {
    "a": "segmentation alone (`segment`)",
    "b": "bare saved pipelines, `predict_proba` topic + stance (reference)",
    "c": "bare word-bigram TF-IDF + LR pair, `predict_proba` × 2",
    "d": "Python API `tag_many` (load excluded)",
    "e": "CLI `tag FILE` `--jobs 1`, end to end",
    "f": "CLI `tag FILE` `--jobs 2`, end to end",
}


def measure(models: Path, sentences: int, repeats: int, train_eval: bool,
            log: Callable[[str], None]) -> dict[str, Any]:
    """Every number of the benchmark, as plain data (``render`` writes the tables)."""

    from karabakh_tagger.tag import load_tagger

    with tempfile.TemporaryDirectory(prefix="kt-bench-") as tmp_name:
        tmp = Path(tmp_name)
        text, copies, n = build_text(sentences)
        big = tmp / "big.txt"
        big.write_text(text, encoding="utf-8")
        units = [u.text for u in segment(text)]
        log(f"big file: {copies} copies of the corpus, {len(text):,} chars, {n:,} units")
        tagger = load_tagger(models, "baseline")
        bare = artifacts.load_pipelines(models)
        pair = bigram_pair()
        for pipelines in (bare, pair):  # warm-up outside the timings
            for p in pipelines.values():
                p.predict_proba(units[:500])
        tagger.tag_many([text[:20_000]])
        cli_file = ["tag", str(big), "--models", str(models), "--model", "baseline"]
        rows: dict[str, Callable[[], Any]] = {
            "a": lambda: segment(text),
            "b": lambda: [bare[t].predict_proba(units) for t in TASKS],
            "c": lambda: [pair[t].predict_proba(units) for t in TASKS],
            "d": lambda: tagger.tag_many([text]),
            "e": lambda: run_cli([*cli_file, "--jobs", "1"]),
            "f": lambda: run_cli([*cli_file, "--jobs", "2"]),
        }
        times: dict[str, list[float]] = {key: [] for key in rows}
        loads, starts, capacity = [], [], []
        load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
        n_burn = calibrate_burn()
        with multiprocessing.get_context("fork").Pool(2) as pool:
            pool.map(burn, [1, 1], chunksize=1)
            for r in range(repeats):
                capacity.append(parallel_capacity(pool, n_burn))
                for key, func in rows.items():
                    times[key].append(timed(func)[0])
                loads.append(timed(lambda: load_tagger(models, "baseline"))[0])
                starts.append(run_cli(["tag", "-", "--models", str(models), "--model", "baseline"]))
                log(f"round {r + 1}/{repeats}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()))
        load_after = os.getloadavg() if hasattr(os, "getloadavg") else None
        peak1, method, lines1 = peak_memory([*cli_file, "--jobs", "1"], tmp / "out1.jsonl")
        peak2, _, lines2 = peak_memory([*cli_file, "--jobs", "2"], tmp / "out2.jsonl")
        identical = (tmp / "out1.jsonl").read_bytes() == (tmp / "out2.jsonl").read_bytes()
        train_s = eval_s = None
        if train_eval:
            log("karabakh-tagger train / eval into temporary folders")
            train_s = run_once(["train", "--models", str(tmp / "models")])
            eval_s = run_once(["eval", "--models", str(tmp / "models"), "--out", str(tmp / "reports")])
    manifest = artifacts.read_manifest(models)
    return {
        "created": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": (f"{len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()} "
                    f"cores ({cpu_model()}, {platform.machine()}), Python {platform.python_version()}"),
        "versions": artifacts.versions(), "commit": git_commit(), "sentences": n, "copies": copies,
        "characters": len(text), "repeats": repeats, "times": times, "load_s": loads, "startup_s": starts,
        "capacity": capacity, "load_average": [load_before, load_after],
        "peak_rss": {"jobs1": peak1, "jobs2": peak2, "method": method},
        "output": {"jobs1_lines": lines1, "jobs2_lines": lines2, "identical": identical},
        "artifact_bytes": {name: info.bytes for name, info in manifest.files.items()},
        "baseline_files": list(manifest.models["baseline"].files.values()),
        "train_s": train_s, "eval_s": eval_s,
        "encoder": measure_encoder(models, manifest, repeats, log) if "encoder" in manifest.models else None,
    }


ENCODER_SENTENCES = 2_000
"""Units of the encoder's input: a few hundred sentences a second make 40,000 too long to repeat."""


def measure_encoder(models: Path, manifest: Any, repeats: int, log: Callable[[str], None]) -> dict[str, Any]:
    """The encoder model through the tagger (onnxruntime) against the same encoder run by
    sentence-transformers/torch fp32 with the same heads, on the same units; CLI start-up on one
    article and peak memory."""
    from sentence_transformers import SentenceTransformer

    from karabakh_tagger.encoder import package_folder
    from karabakh_tagger.tag import load_tagger

    text, _, n = build_text(ENCODER_SENTENCES)
    units = [u.text for u in segment(text)]
    tagger = load_tagger(models, "encoder")
    heads = tagger.scorer.heads
    reference = SentenceTransformer(str(package_folder()), device="cpu")
    rows: dict[str, Callable[[], Any]] = {
        "onnx": lambda: tagger.tag_many([text]),
        "torch": lambda: heads.predict_proba(reference.encode(units, batch_size=64,
                                                              normalize_embeddings=True)),
    }
    for func in rows.values():  # warm-up
        func()
    times: dict[str, list[float]] = {key: [] for key in rows}
    for r in range(repeats):
        for key, func in rows.items():
            times[key].append(timed(func)[0])
        log(f"encoder round {r + 1}/{repeats}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()))
    with tempfile.TemporaryDirectory(prefix="kt-bench-enc-") as tmp_name:
        tmp = Path(tmp_name)
        one = sorted(ARTICLES.glob("*.txt"))[0]
        starts = [run_cli(["tag", str(one), "--models", str(models), "--model", "encoder"])
                  for _ in range(repeats)]
        big = tmp / "encoder.txt"
        big.write_text(text, encoding="utf-8")
        peak, method, lines = peak_memory(["tag", str(big), "--models", str(models), "--model", "encoder"],
                                          tmp / "out.jsonl")
    return {"sentences": n, "times": times, "one_article_s": starts, "peak_rss": peak,
            "peak_method": method, "lines": lines,
            "quantized": bool(manifest.models["encoder"].details.get("quantized"))}


def summarise(m: dict[str, Any]) -> dict[str, Any]:
    """The README's speed block: rows (sentences/s, ratio to the reference) and target checks."""
    times, n = m["times"], m["sentences"]
    ratio = {key: paired_ratio(times[key], times["b"]) for key in times}
    vs_pair = paired_ratio(times["e"], times["c"])
    speedup = paired_ratio(times["e"], times["f"])
    load_s, start_s = statistics.median(m["load_s"]), statistics.median(m["startup_s"])
    total = sum(m["artifact_bytes"][name] for name in m["baseline_files"])
    measures = [
        ("CLI `--jobs 1` time per sentence vs a bare word-bigram pair", f"{vs_pair:.2f}x",
         f"<= {CLI_VS_BIGRAM_MAX:.1f}x", vs_pair <= CLI_VS_BIGRAM_MAX),
        ("CLI `--jobs 2` speed-up over `--jobs 1`", f"{speedup:.2f}x", f">= {JOBS2_SPEEDUP_MIN:.1f}x",
         speedup >= JOBS2_SPEEDUP_MIN),
        ("model load (`load_tagger`)", f"{load_s * 1000:.0f} ms", f"< {LOAD_MAX_S * 1000:.0f} ms",
         load_s < LOAD_MAX_S),
        ("CLI start-up, one empty input", f"{start_s:.2f} s", "< 1.5 s", start_s < 1.5),
        ("the baseline's artifacts on disk", mib(total), "< 5 MiB", total < ARTIFACTS_MAX_BYTES),
        ("peak memory, CLI on the big file", mib(m["peak_rss"]["jobs1"]), "< 300 MiB",
         m["peak_rss"]["jobs1"] < PEAK_RSS_MAX_BYTES),
    ]
    enc = m.get("encoder")
    if enc:
        over_torch = paired_ratio(enc["times"]["torch"], enc["times"]["onnx"])
        per_core = enc["sentences"] / statistics.median(enc["times"]["onnx"]) / cpu_count()
        one = statistics.median(enc["one_article_s"])
        measures += [
            ("encoder tagging vs the same encoder in sentence-transformers/torch fp32 (speed-up)",
             f"{over_torch:.2f}x", ">= 2.0x", over_torch >= 2.0),
            ("CLI start-up + tagging one article with the encoder", f"{one:.2f} s", "< 1.5 s", one < 1.5),
            ("peak memory, CLI with the encoder", mib(enc["peak_rss"]), "< 600 MiB",
             enc["peak_rss"] < 600 * 1024 * 1024),
            ("the encoder model for 300 million units (its rate per core, on all cores of this machine)",
             f"{300e6 / per_core / 3600:,.0f} core-hours", "info", True),
            ("the encoder's artifacts on disk (no target)",
             mib(sum(v for k, v in m["artifact_bytes"].items() if k not in m["baseline_files"])), "info",
             True),
        ]
    if m["train_s"] is not None:
        total_s = m["train_s"] + m["eval_s"]
        measures.append(("`train` + `eval` wall time", f"{total_s:.0f} s", f"< {TRAIN_EVAL_MAX_S:.0f} s",
                         total_s < TRAIN_EVAL_MAX_S))
    rows = [{"row": ROW_LABELS[k], "sentences_per_second": n / statistics.median(v), "ratio": ratio[k]}
            for k, v in times.items()]
    if enc:
        reference = statistics.median(times["b"]) / n  # seconds per sentence of row b
        for key, label in (("onnx", "encoder model, Python API `tag_many` (onnxruntime)"),
                           ("torch", "the same encoder in sentence-transformers/torch fp32 + the heads")):
            per = statistics.median(enc["times"][key]) / enc["sentences"]
            rows.append({"row": label, "sentences_per_second": 1 / per, "ratio": per / reference})
    return {"created": m["created"], "machine": m["machine"], "rows": rows,
            "measures": [{"measure": a, "value": b, "target": c, "passed": d} for a, b, c, d in measures]}


def render(m: dict[str, Any]) -> str:
    """The Markdown report (reports/bench.md)."""
    from karabakh_tagger.readme import render_speed

    summary = summarise(m)
    cap = statistics.median(m["capacity"])
    lines = ["# karabakh-tagger benchmark", "",
             f"- input: the corpus articles repeated {m['copies']}x ({m['characters']:,} characters, "
             f"{m['sentences']:,} units), {m['repeats']} rounds timed round-robin, medians; ratios are "
             "medians of per-round ratios to row b",
             f"- load average {fmt_load(m['load_average'][0])} before, {fmt_load(m['load_average'][1])} "
             f"after; two-process capacity {cap:.2f}x; commit {m['commit']}",
             f"- CLI output: {m['output']['jobs1_lines']:,} rows with `--jobs 1`, "
             f"{m['output']['jobs2_lines']:,} with `--jobs 2` "
             f"({'identical' if m['output']['identical'] else 'DIFFERENT'})", "",
             render_speed(summary)]
    if cap < 1.8:
        lines.append(f"Note: the two-process capacity was {cap:.2f}x (other work used the cores): the "
                     "`--jobs 2` target is not conclusive in this run.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, default=ROOT / "models", help="trained model folder")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench.md",
                        help="Markdown file to write; bench.json is written beside it")
    parser.add_argument("--sentences", type=int, default=40_000, help="units in the big article file")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (medians are reported)")
    parser.add_argument("--skip-train-eval", action="store_true",
                        help="do not time karabakh-tagger train and eval")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.sentences < 1:
        parser.error("--repeats and --sentences must be at least 1")
    measured = measure(args.models.resolve(), args.sentences, args.repeats, not args.skip_train_eval,
                       lambda message: print(message, file=sys.stderr, flush=True))
    report = render(measured)
    print(report)
    atomic_write_text(args.out, report)
    atomic_write_text(args.out.with_name("bench.json"),
                      json.dumps({**summarise(measured), "raw": measured}, indent=2) + "\n")
    print(f"wrote {args.out} and {args.out.with_name('bench.json')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

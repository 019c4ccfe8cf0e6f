"""Throughput of ``tag-archive`` on a local Dask cluster against the single-process ``tag`` CLI.

Input: the corpus articles and ``tests/data/composed_article.txt``, copied as separate ``*.txt``
files into one folder until the project's segmenter finds about ``--sentences`` units in them (the
same folder for every row). Rows, timed round-robin over ``--repeats`` rounds (medians; ratios are
medians of per-round ratios, so a slow spell of this shared machine hits all rows alike):

a. ``karabakh-tagger tag FOLDER --jobs 1 > /dev/null``: THE REFERENCE (one process, end to end);
b. ``karabakh-tagger tag-archive FOLDER --workers 1``, end to end (cluster start-up included);
c. the same with ``--workers 2``;
d. ``tag_archive(...)`` on an already running LocalCluster of 1 worker (the steady rate of one core);
e. the same on 2 workers.

Then, on the running clusters, ``--partition-size`` from small to large: sentences per second, and
the per-partition overhead (on one worker: the extra time per extra partition between the smallest
and the largest size; on two, large partitions also leave a worker idle). From the one-worker rate:
the cores and hours an archive of 300 million units needs. Run (``make bench`` runs it as below)::

    .venv/bin/python benchmarks/archive.py --models models --out reports/archive.md
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import burn, calibrate_burn, cli_command, cpu_model, git_commit, parallel_capacity, sub_env

from karabakh_tagger.archive import tag_archive
from karabakh_tagger.files import atomic_write_text
from karabakh_tagger.segment import segment

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [*sorted((ROOT / "data" / "articles").glob("*.txt")),
           ROOT / "tests" / "data" / "composed_article.txt"]
SIZES = (10, 50, 200, 1000)
ARCHIVE_UNITS = 300_000_000  # about 10 million articles
ROWS = {
    "a": "CLI `tag FOLDER --jobs 1`, end to end (reference)",
    "b": "CLI `tag-archive FOLDER --workers 1`, end to end",
    "c": "CLI `tag-archive FOLDER --workers 2`, end to end",
    "d": "`tag_archive` on a running 1-worker LocalCluster",
    "e": "`tag_archive` on a running 2-worker LocalCluster",
}


def build_folder(folder: Path, target: int) -> tuple[int, int]:
    """Copies of the source articles as separate files, to about ``target`` units: (files, units)."""
    texts = [p.read_text(encoding="utf-8") for p in SOURCES]
    per_copy = sum(len(segment(t)) for t in texts)
    copies = max(1, round(target / per_copy))
    folder.mkdir(parents=True)
    for c in range(copies):
        for source, text in zip(SOURCES, texts, strict=True):
            (folder / f"{c:05d}-{source.stem}.txt").write_text(text, encoding="utf-8")
    return copies * len(texts), copies * per_copy


def run_cli(args: list[str]) -> float:
    """Wall seconds of one CLI run, stdout to /dev/null; a failed run stops the benchmark."""
    start = time.perf_counter()
    done = subprocess.run(cli_command() + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          env=sub_env(), cwd=ROOT, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"karabakh-tagger {' '.join(args)} failed ({done.returncode}):\n"
                         + done.stderr.decode(errors="replace"))
    return seconds


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    return path


def timed_api(client: Any, folder: Path, out: Path, models: Path, size: int,
              model: str) -> tuple[float, int]:
    """Wall seconds of one ``tag_archive`` run into a fresh folder, and its partitions."""
    start = time.perf_counter()
    summary = tag_archive([str(folder)], fresh(out), client, models_dir=models, model=model,
                          partition_size=size)
    seconds = time.perf_counter() - start
    if not summary.ok:
        raise SystemExit(f"tag_archive failed: {summary.problems[:3]}")
    return seconds, summary.partitions


def measure(models: Path, sentences: int, repeats: int, partition_size: int, model: str,
            log: Callable[[str], None]) -> dict[str, Any]:
    """Every number of the benchmark as plain data (``render`` writes the tables)."""
    from distributed import Client, LocalCluster

    with tempfile.TemporaryDirectory(prefix="kt-archive-bench-") as name:
        tmp = Path(name)
        folder = tmp / "archive"
        files, units = build_folder(folder, sentences)
        log(f"archive: {files:,} files, {units:,} units")
        size = ["--partition-size", str(partition_size), "--model", model]
        times: dict[str, list[float]] = {key: [] for key in ROWS}
        sweep: dict[str, list[float]] = {f"{w}/{s}": [] for w in (1, 2) for s in SIZES}
        parts: dict[int, int] = {}
        capacity: list[float] = []
        n_burn = calibrate_burn()
        load_before = os.getloadavg()
        cluster = dict(threads_per_worker=1, processes=True, dashboard_address=":0",
                       silence_logs=logging.ERROR)
        with LocalCluster(n_workers=1, **cluster) as one, Client(one) as c1, \
                LocalCluster(n_workers=2, **cluster) as two, Client(two) as c2, \
                multiprocessing.get_context("fork").Pool(2) as pool:
            pool.map(burn, [1, 1], chunksize=1)
            for client in (c1, c2):  # warm-up: imports and the model load on every worker
                timed_api(client, folder, tmp / "warm", models, partition_size, model)
            for r in range(repeats):
                capacity.append(parallel_capacity(pool, n_burn))
                times["a"].append(run_cli(["tag", str(folder), "--models", str(models), "--model", model]))
                times["b"].append(run_cli(["tag-archive", str(folder), "--out", str(fresh(tmp / "b")),
                                           "--models", str(models), "--workers", "1", *size]))
                times["c"].append(run_cli(["tag-archive", str(folder), "--out", str(fresh(tmp / "c")),
                                           "--models", str(models), "--workers", "2", *size]))
                times["d"].append(timed_api(c1, folder, tmp / "d", models, partition_size, model)[0])
                times["e"].append(timed_api(c2, folder, tmp / "e", models, partition_size, model)[0])
                for w, client in ((1, c1), (2, c2)):
                    for s in SIZES:
                        seconds, parts[s] = timed_api(client, folder, tmp / "sweep", models, s, model)
                        sweep[f"{w}/{s}"].append(seconds)
                log(f"round {r + 1}/{repeats}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items())
                    + "; sizes " + ", ".join(f"{s}: {v[-1]:.2f}s" for s, v in sweep.items()))
    return {
        "created": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": (f"{len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()} "
                    f"cores ({cpu_model()}, {platform.machine()}), Python {platform.python_version()}"),
        "commit": git_commit(), "capacity": capacity, "load_average": [load_before, os.getloadavg()],
        "files": files, "sentences": units, "repeats": repeats, "model": model,
        "partition_size": partition_size, "times": times, "sweep": sweep,
        "partitions": {str(s): n for s, n in parts.items()},
    }


def summarise(m: dict[str, Any]) -> dict[str, Any]:
    """Rates, ratios, the per-partition overhead and the projection, from the raw times."""
    n, times = m["sentences"], m["times"]
    ratio = {k: statistics.median(a / b for a, b in zip(v, times["a"], strict=True))
             for k, v in times.items()}
    rows = [{"row": ROWS[k], "sentences_per_second": n / statistics.median(v), "ratio": ratio[k]}
            for k, v in times.items()]
    rate = {key: n / statistics.median(v) for key, v in m["sweep"].items()}
    sweep = [{"partition_size": int(s), "partitions": m["partitions"][s], "one_worker": rate[f"1/{s}"],
              "two_workers": rate[f"2/{s}"]} for s in m["partitions"]]
    small, large = sweep[0], sweep[-1]
    extra = small["partitions"] - large["partitions"]
    overhead = ((n / small["one_worker"] - n / large["one_worker"]) / extra) if extra > 0 else None
    per_core = n / statistics.median(times["d"])
    core_hours = ARCHIVE_UNITS / per_core / 3600
    return {"created": m["created"], "machine": m["machine"], "rows": rows, "sweep": sweep,
            "overhead_s_per_partition": overhead, "sentences_per_second_per_core": per_core,
            "two_worker_speedup": ratio["d"] / ratio["e"], "archive_core_hours": core_hours,
            "capacity": statistics.median(m["capacity"])}


def duration(hours: float) -> str:
    return f"{hours:,.1f} h" if hours >= 1 else f"{hours * 60:.0f} min"


def render(m: dict[str, Any]) -> str:
    """The Markdown report (reports/archive.md)."""
    s = summarise(m)
    lines = ["# tag-archive benchmark", "",
             f"Measured {s['created'][:10]} on {s['machine']}, commit {m['commit']}: {m['files']:,} article "
             f"files, {m['sentences']:,} units, model {m.get('model', 'baseline')}; {m['repeats']} rounds "
             f"round-robin, medians; partition size "
             f"{m['partition_size']} unless stated. Two-process capacity {s['capacity']:.2f}x (2.0 on two "
             f"idle cores); load average {m['load_average'][0][0]:.2f} before, {m['load_average'][1][0]:.2f} "
             "after.", "",
             "| row | sentences/s | × time of `tag --jobs 1` |", "|---|---:|---:|"]
    lines += [f"| {r['row']} | {r['sentences_per_second']:,.0f} | {r['ratio']:.2f} |" for r in s["rows"]]
    lines += ["", "| `--partition-size` | partitions | sentences/s, 1 running worker | 2 running workers |",
              "|---:|---:|---:|---:|"]
    lines += [f"| {r['partition_size']} | {r['partitions']} | {r['one_worker']:,.0f} | "
              f"{r['two_workers']:,.0f} |" for r in s["sweep"]]
    overhead, small, large = s["overhead_s_per_partition"], s["sweep"][0], s["sweep"][-1]
    lines += ["", f"- per-partition overhead: {overhead * 1000:.1f} ms per partition (one worker, size "
              f"{small['partition_size']} against {large['partition_size']})"
              if overhead is not None else "- per-partition overhead: n/a (one partition size)",
              f"- one worker (one core): {s['sentences_per_second_per_core']:,.0f} sentences/s; "
              f"2 workers are {s['two_worker_speedup']:.2f}x as fast, with a two-process capacity of "
              f"{s['capacity']:.2f}x at the time (the client and scheduler share these cores)",
              f"- {ARCHIVE_UNITS:,} units at that rate: {s['archive_core_hours']:,.1f} core-hours, "
              + ", ".join(f"{duration(s['archive_core_hours'] / c)} on {c} cores" for c in (16, 64, 256))]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, default=ROOT / "models", help="trained model folder")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "archive.md",
                        help="Markdown file to write; archive.json is written beside it")
    parser.add_argument("--sentences", type=int, default=40_000, help="units in the archive")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (medians are reported)")
    parser.add_argument("--partition-size", type=int, default=100,
                        help="articles per partition of rows b-e (default 100: about 20 partitions)")
    parser.add_argument("--model", default="baseline",
                        help="model family to tag with (default baseline, the throughput tier)")
    args = parser.parse_args(argv)
    if min(args.repeats, args.sentences, args.partition_size) < 1:
        parser.error("--repeats, --sentences and --partition-size must be at least 1")
    measured = measure(args.models.resolve(), args.sentences, args.repeats, args.partition_size, args.model,
                       lambda message: print(message, file=sys.stderr, flush=True))
    report = render(measured)
    print(report)
    atomic_write_text(args.out, report)
    atomic_write_text(args.out.with_name("archive.json"),
                      json.dumps({**summarise(measured), "raw": measured}, indent=2) + "\n")
    print(f"wrote {args.out} and {args.out.with_name('archive.json')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Nothing is lost under concurrency or faults: real processes racing for the label file and the
article folder, a write that fails half way, and articles the segmenter must cut the same way in
every command. Every process has a time limit."""

from __future__ import annotations

import os
import queue
import resource
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from conftest import ARTICLES_DIR, DATA, ENV, LABELS_FILE, ROOT, read_jsonl, run_cli, write_jsonl

LIMIT = 120  # seconds any one process may take
FIRST = DATA / "composed_article.txt"
SECOND = DATA / "tools" / "article.txt"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(ARTICLES_DIR, tmp_path / "articles")
    shutil.copy(LABELS_FILE, tmp_path / "labels.jsonl")
    return tmp_path


class Proc:
    """A CLI process started now, its stderr read line by line as it comes."""

    def __init__(self, *args: Any, preexec: Any = None) -> None:
        self.popen = subprocess.Popen([sys.executable, "-m", "karabakh_tagger.cli", *map(str, args)],
                                      cwd=ROOT, env=ENV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, preexec_fn=preexec)
        self.lines: queue.Queue[str] = queue.Queue()
        self.err: list[str] = []
        self.out: list[str] = []
        self.readers = [threading.Thread(target=self._read, args=(self.popen.stderr, self.err), daemon=True),
                        threading.Thread(target=self._read, args=(self.popen.stdout, self.out), daemon=True)]
        for reader in self.readers:
            reader.start()

    def _read(self, stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line)
            if into is self.err:
                self.lines.put(line)

    def wait_for(self, text: str, timeout: float = LIMIT) -> None:
        """Block until a stderr line holds ``text`` (the process says it is waiting for the lock)."""
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                self.popen.kill()
                raise AssertionError(f"no {text!r} within {timeout} s; stderr: {''.join(self.err)}") from None
            if text in line:
                return

    def finish(self) -> tuple[int, str, str]:
        try:
            self.popen.wait(timeout=LIMIT)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            raise
        for reader in self.readers:
            reader.join(timeout=LIMIT)
        return self.popen.returncode, "".join(self.out), "".join(self.err)


def _annotate(project: Path, models: Path, article: Path, name: str) -> Path:
    draft = project / name
    done = run_cli("annotate", article, "--out", draft, "--models", models,
                   "--articles", project / "articles")
    assert done.code == 0, done.describe()
    return draft


def _reviewed(draft: Path) -> Path:
    write_jsonl(draft, [{**r, "status": "reviewed"} for r in read_jsonl(draft)])
    return draft


def _accept_args(project: Path, draft: Path) -> tuple[Any, ...]:
    return ("accept", draft, "--labels", project / "labels.jsonl", "--articles", project / "articles")


def _ids(path: Path) -> set[str]:
    return {r["id"] for r in read_jsonl(path)}


# --- accept -----------------------------------------------------------------------------------------------

def test_two_accepts_that_meet_at_the_lock_both_merge_and_lose_nothing(project: Path, models: Path) -> None:
    from karabakh_tagger.annotate import locked

    one = _reviewed(_annotate(project, models, FIRST, "one.jsonl"))
    two = _reviewed(_annotate(project, models, SECOND, "two.jsonl"))
    labels = project / "labels.jsonl"
    before = labels.read_bytes()
    with locked(labels):  # both start while the label file is held, so they really meet
        procs = [Proc(*_accept_args(project, draft)) for draft in (one, two)]
        for proc in procs:
            proc.wait_for("another karabakh-tagger run is changing it; waiting")
        assert all(p.popen.poll() is None for p in procs) and labels.read_bytes() == before
    results = [proc.finish() for proc in procs]
    assert [code for code, _, _ in results] == [0, 0], results
    assert _ids(labels) == _ids(LABELS_FILE) | _ids(one) | _ids(two)
    valid = run_cli("validate", labels, "--articles", project / "articles")
    assert valid.code == 0, valid.describe()


def test_two_accepts_started_at_the_same_moment_keep_every_row(project: Path, models: Path) -> None:
    one = _reviewed(_annotate(project, models, FIRST, "one.jsonl"))
    two = _reviewed(_annotate(project, models, SECOND, "two.jsonl"))
    procs = [Proc(*_accept_args(project, draft)) for draft in (one, two)]
    results = [proc.finish() for proc in procs]
    assert [code for code, _, _ in results] == [0, 0], results
    assert _ids(project / "labels.jsonl") == _ids(LABELS_FILE) | _ids(one) | _ids(two)


def test_accept_gives_up_clearly_when_the_lock_stays_taken(project: Path, models: Path) -> None:
    from karabakh_tagger.annotate import locked

    draft = _reviewed(_annotate(project, models, FIRST, "one.jsonl"))
    labels = project / "labels.jsonl"
    before = labels.read_bytes()
    with locked(labels):
        done = run_cli(*_accept_args(project, draft), "--wait", "0.5", timeout=LIMIT)
    assert done.code == 1 and "Traceback" not in done.err
    assert done.err_lines[-1] == (f"error: {labels}: still locked by another run after 0.5 s (lock file "
                                  f"{project / '.labels.jsonl.lock'}); nothing was changed, try again")
    assert labels.read_bytes() == before


# --- annotate --------------------------------------------------------------------------------------------

def test_two_annotates_at_once_give_two_articles_two_numbers(project: Path, models: Path) -> None:
    from karabakh_tagger.annotate import locked

    articles = project / "articles"
    with locked(articles):
        procs = [Proc("annotate", source, "--out", project / f"draft{n}.jsonl", "--models", models,
                      "--articles", articles) for n, source in enumerate((FIRST, SECOND))]
        for proc in procs:
            proc.wait_for("waiting up to")
    results = [proc.finish() for proc in procs]
    assert [code for code, _, _ in results] == [0, 0], results
    new = sorted(p for p in articles.glob("*.txt") if not (ARTICLES_DIR / p.name).exists())
    assert [p.stem[:4] for p in new] == ["005_", "006_"]
    assert sorted(p.read_bytes() for p in new) == sorted([FIRST.read_bytes(), SECOND.read_bytes()])
    for n in (0, 1):
        rows = read_jsonl(project / f"draft{n}.jsonl")
        assert len({r["article"] for r in rows}) == 1 and (articles / f"{rows[0]['article']}.txt").exists()
    assert not list(articles.glob(".*.tmp"))


def _file_size_limit(limit: int) -> Any:
    def apply() -> None:  # in the child: writes past ``limit`` bytes fail (Python ignores SIGXFSZ)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.skipif(not hasattr(resource, "RLIMIT_FSIZE"), reason="needs RLIMIT_FSIZE")
def test_a_failed_article_copy_is_one_line_and_leaves_nothing_behind(project: Path, models: Path) -> None:
    big = project / "big_article.txt"
    big.write_bytes(FIRST.read_bytes() * 20)
    draft = project / "draft.jsonl"
    before = sorted(os.listdir(project / "articles"))
    proc = Proc("annotate", big, "--out", draft, "--models", models, "--articles", project / "articles",
                preexec=_file_size_limit(big.stat().st_size // 2))  # the copy fails half way
    code, _, err = proc.finish()
    assert code == 1 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "File too large" in lines[0], err
    assert "nothing was written" in lines[0]
    assert sorted(os.listdir(project / "articles")) == before  # no copy, no .tmp
    assert not draft.exists()


def test_a_draft_that_cannot_be_written_takes_its_article_copy_back(project: Path, models: Path) -> None:
    before = sorted(os.listdir(project / "articles"))
    done = run_cli("annotate", FIRST, "--out", project / "labels.jsonl" / "draft.jsonl", "--models", models,
                   "--articles", project / "articles")
    assert done.code == 1 and "Traceback" not in done.err
    assert len(done.err_lines) == 1
    target = project / "labels.jsonl" / "draft.jsonl"
    assert done.err_lines[0].startswith(f"error: {target}: cannot be written (")
    assert sorted(os.listdir(project / "articles")) == before


# --- one segmentation in every command -------------------------------------------------------------------

def test_a_hard_wrapped_article_of_150000_characters_goes_through_annotate_and_accept(
        project: Path, models: Path) -> None:
    from karabakh_tagger.segment import segment

    line = "the ceasefire holds along the line and the convoys move on the road to lachin"
    text = "\r".join([line] * 2000)  # no blank line, \r line ends: one block, cut into windows
    assert len(text) > 150_000
    source = project / "wrapped.txt"
    source.write_bytes(text.encode("utf-8"))
    draft = _annotate(project, models, source, "draft.jsonl")
    rows = read_jsonl(draft)
    assert [(r["start"], r["end"], r["text"]) for r in rows] == [(u.start, u.end, u.text)
                                                                 for u in segment(text)]
    done = run_cli(*_accept_args(project, _reviewed(draft)), timeout=LIMIT)
    assert done.code == 0, done.describe()
    valid = run_cli("validate", project / "labels.jsonl", "--articles", project / "articles")
    assert valid.code == 0, valid.describe()


def test_a_unit_holding_a_line_separator_survives_the_draft_and_the_labels(
        project: Path, models: Path) -> None:
    """U+0085 stays inside a unit, and str.splitlines (which most readers use) breaks at it."""
    source = project / "separators.txt"
    source.write_text("Truce talks resumed in Moscow.\n\nThe deal\x85holds for now.\n", encoding="utf-8")
    draft = _annotate(project, models, source, "draft.jsonl")
    rows = read_jsonl(draft)
    assert any("\x85" in r["text"] for r in rows)
    assert len(draft.read_text(encoding="utf-8").splitlines()) == len(rows)
    done = run_cli(*_accept_args(project, _reviewed(draft)), timeout=LIMIT)
    assert done.code == 0, done.describe()
    valid = run_cli("validate", project / "labels.jsonl", "--articles", project / "articles")
    assert valid.code == 0, valid.describe()

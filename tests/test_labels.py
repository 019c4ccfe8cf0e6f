"""The label scheme and the validator: every kind of problem, with its line, through the API and the CLI."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from karabakh_tagger.labels import STANCES, TASKS, TOPICS, label_counts, normalise, validate_units
from karabakh_tagger.segment import segment

from conftest import ARTICLES_DIR, AUTHORED_DIR, LABELS_FILE, ROOT, read_jsonl, run_cli, write_jsonl

Lines = list[str]


@pytest.fixture(scope="session")
def articles() -> dict[str, str]:
    from karabakh_tagger.corpus import load_articles

    return load_articles(ARTICLES_DIR)


@pytest.fixture(scope="session")
def _label_lines() -> tuple[str, ...]:
    return tuple(LABELS_FILE.read_text(encoding="utf-8").splitlines())


@pytest.fixture
def label_lines(_label_lines: tuple[str, ...]) -> list[str]:
    """The lines of labels/sentences.jsonl (a fresh list: tests may modify it)."""
    return list(_label_lines)


@pytest.fixture
def write_labels(tmp_path: Path) -> Callable[..., Path]:
    """Write label lines to a file in tmp_path (one per line, final newline) and return its path."""
    def write(lines: list[str], name: str = "labels.jsonl") -> Path:
        path = tmp_path / name
        path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        return path
    return write


def _edit(lines: Lines, index: int, change: Callable[[dict[str, Any]], None]) -> Lines:
    """Copy of ``lines`` with row ``index`` (0-based) parsed, changed and re-serialised."""
    row = json.loads(lines[index])
    change(row)
    out = list(lines)
    out[index] = json.dumps(row, ensure_ascii=False)
    return out


def _set(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda row: row.update(values)


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda row: row.pop(key)


def _shift_start_keep_text(row: dict[str, Any]) -> None:
    row["start"] += 1


def _shift_start_fix_text(row: dict[str, Any]) -> None:
    row["start"] += 1
    row["text"] = row["text"][1:]


def _insert(lines: Lines, index: int, line: str) -> Lines:
    return [*lines[:index], line, *lines[index:]]


def _delete(lines: Lines, index: int) -> Lines:
    return [*lines[:index], *lines[index + 1:]]


@dataclass(frozen=True)
class Case:
    """A corruption of the real label file and the problems it must produce: (line, fragments)."""

    mutate: Callable[[Lines], Lines]
    expected: tuple[tuple[int, tuple[str, ...]], ...]


ROW7 = "000_81677d10f4735300-006"  # the row on line 7 (index 6): start 752, end 918, article length 2454
CASES: dict[str, Case] = {
    "unknown topic, with suggestion": Case(
        lambda ls: _edit(ls, 6, _set(topic="turkey")),
        ((7, ("unknown topic 'turkey'", "did you mean 'turkey_role'?")),)),
    "unknown stance, with suggestion": Case(
        lambda ls: _edit(ls, 6, _set(stance="critcal")),
        ((7, ("unknown stance 'critcal'", "did you mean 'critical'?")),)),
    "unknown stance, no close match": Case(
        lambda ls: _edit(ls, 6, _set(stance="xyzzy")),
        ((7, ("unknown stance 'xyzzy'", "supportive, critical, neutral")),)),
    "missing field": Case(
        lambda ls: _edit(ls, 6, _drop("stance")),
        ((7, ("missing field 'stance'",)),)),
    "unknown field": Case(
        lambda ls: _edit(ls, 6, _set(topik="other")),
        ((7, ("unknown field 'topik'",)),)),
    "wrong type: str for int": Case(
        lambda ls: _edit(ls, 6, _set(index="6")),
        ((7, ("field 'index' must be int, got str",)),)),
    "wrong type: float for int": Case(
        lambda ls: _edit(ls, 6, _set(start=752.0)),
        ((7, ("field 'start' must be int, got float",)),)),
    "wrong type: bool for int": Case(
        lambda ls: _edit(ls, 6, _set(end=True)),
        ((7, ("field 'end' must be int, got bool",)),)),
    "wrong type: label not a string": Case(
        lambda ls: _edit(ls, 6, _set(topic=None)),
        ((7, ("field 'topic' must be str, got NoneType",)),)),
    "offsets moved, text no longer the slice": Case(
        lambda ls: _edit(ls, 6, _shift_start_keep_text),
        ((7, ("text is not the article slice at 753:918",)),)),
    "offsets outside the article": Case(
        lambda ls: _edit(ls, 6, _set(end=10**6)),
        ((7, ("offsets 752:1000000 outside the article", "length 2454")),)),
    "text edited": Case(
        lambda ls: _edit(ls, 6, lambda r: r.update(text=r["text"].replace("Putin", "Poutine"))),
        ((7, ("text is not the article slice at 752:918",)),)),
    "slice that is not a unit": Case(
        lambda ls: _edit(ls, 6, _shift_start_fix_text),
        ((7, ("offsets 753:918 are not a unit of the segmenter",)),
         (8, (f"unit {ROW7} at 752:918 is missing",)))),
    "id does not match article and index": Case(
        lambda ls: _edit(ls, 6, _set(id="000_81677d10f4735300-005")),
        ((7, ("id '000_81677d10f4735300-005' does not match", f"use '{ROW7}'")),)),
    "unknown article": Case(
        lambda ls: _edit(ls, 6, _set(article="999_nope")),
        ((7, ("unknown article '999_nope'",)),)),
    "duplicate row (duplicate id)": Case(
        lambda ls: _insert(ls, 5, ls[4]),
        ((6, ("duplicate id '000_81677d10f4735300-004'", "first on line 5")),
         (6, ("unit 000_81677d10f4735300-004 is labelled 2 times", "lines 5, 6")))),
    "deleted row (missing unit)": Case(
        lambda ls: _delete(ls, 9),
        ((10, ("unit 000_81677d10f4735300-009 at 1225:1386 is missing",)),)),
    "deleted last row (missing unit)": Case(
        lambda ls: ls[:-1],
        ((109, ("unit 004_b77860f708447555-028", "is missing", "More in France")),)),
    "invalid JSON": Case(
        lambda ls: [*ls[:3], ls[3][:-2], *ls[4:]],
        ((4, ("invalid JSON",)),)),
    "not an object": Case(
        lambda ls: [*ls[:3], "[1, 2]", *ls[4:]],
        ((4, ("not a JSON object",)),)),
    "blank line": Case(
        lambda ls: _insert(ls, 3, ""),
        ((4, ("blank line",)),)),
    "empty file": Case(
        lambda ls: [],
        ((1, ("file is empty",)),)),
    "two problems on two lines": Case(
        lambda ls: _edit(_edit(ls, 2, _set(topic="turkey")), 40, _drop("text")),
        ((3, ("unknown topic 'turkey'",)), (41, ("missing field 'text'",)))),
}


def _check_problems(problems: list[Any], expected: tuple[tuple[int, tuple[str, ...]], ...]) -> None:
    assert len(problems) == len(expected), [(p.line, p.message) for p in problems]
    for problem, (line, fragments) in zip(problems, expected, strict=True):
        assert problem.line == line, (problem, line)
        for fragment in fragments:
            assert fragment in problem.message, (problem, fragment)


def _check_cli_rejects(run: Any, path: Path, problems: list[Any]) -> None:
    """Exit 1, one stderr line ``PATH:LINE: message`` per problem plus a summary, no traceback."""
    assert run.code == 1, run.err
    assert "Traceback" not in run.err
    assert run.out == ""
    lines = run.err.splitlines()
    assert lines == [f"{path}:{p.line}: {p.message}" for p in problems] + [
        f"{path}: {len(problems)} problem(s); nothing was changed"]
    for line in lines[:-1]:
        assert re.match(rf"^{re.escape(str(path))}:\d+: \S", line), line


@pytest.mark.parametrize("name", list(CASES))
def test_validator_reports_each_problem_with_its_line(name: str, label_lines: Lines,
                                                      articles: dict[str, str]) -> None:
    case = CASES[name]
    _, problems = validate_units(case.mutate(label_lines), articles)
    _check_problems(problems, case.expected)


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory: pytest.TempPathFactory, _label_lines: tuple[str, ...],
             ) -> dict[str, tuple[Path, bytes, Any]]:
    """Every case through the real CLI, run concurrently (each run is mostly interpreter start-up)."""
    folder = tmp_path_factory.mktemp("cases")
    files = {}
    for number, (name, case) in enumerate(CASES.items()):
        path = folder / f"case{number:02d}.jsonl"
        path.write_text("".join(f"{line}\n" for line in case.mutate(list(_label_lines))),
                        encoding="utf-8")
        files[name] = (path, path.read_bytes())
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = dict(zip(files, pool.map(lambda p: run_cli("validate", p[0]), files.values()),
                        strict=True))
    return {name: (path, before, runs[name]) for name, (path, before) in files.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_cli_validate_reports_problems_and_leaves_the_file_alone(
        name: str, cli_runs: dict[str, tuple[Path, bytes, Any]], articles: dict[str, str]) -> None:
    path, before, run = cli_runs[name]
    _, problems = validate_units(before.decode("utf-8").splitlines(), articles)
    _check_problems(problems, CASES[name].expected)
    _check_cli_rejects(run, path, problems)
    assert path.read_bytes() == before


def test_real_labels_are_valid(label_lines: Lines, articles: dict[str, str]) -> None:
    rows, problems = validate_units(label_lines, articles)
    assert problems == []
    assert len(rows) == 109
    assert {r["article"] for r in rows} == set(articles)


def test_cli_validates_the_real_labels_and_prints_counts(label_lines: Lines,
                                                        articles: dict[str, str]) -> None:
    before = LABELS_FILE.read_bytes()
    mtime = LABELS_FILE.stat().st_mtime_ns
    run = run_cli("validate", "labels/sentences.jsonl")
    assert run.code == 0, run.err
    assert "Traceback" not in run.err
    out = run.out.splitlines()
    assert out[0] == "labels/sentences.jsonl: 109 rows, 5 articles, all valid"
    rows, _ = validate_units(label_lines, articles)
    counts = label_counts(rows)
    printed: dict[str, tuple[int, list[int]]] = {}
    for line in out[1:]:
        fields = line.split()
        if line.startswith("  ") and fields:
            printed[fields[0]] = (int(fields[1]), [int(n) for n in fields[2:]])
    assert set(printed) == set(TOPICS) | set(STANCES)
    for task, names in TASKS.items():
        for name in names:
            total, per_article = printed[name]
            assert total == counts[task][name]
            assert len(per_article) == len(articles)
            assert sum(per_article) == total
    assert LABELS_FILE.read_bytes() == before
    assert LABELS_FILE.stat().st_mtime_ns == mtime


def test_cli_default_path_is_the_real_labels() -> None:
    run = run_cli("validate")
    assert run.code == 0, run.err
    assert run.out.startswith("labels/sentences.jsonl: 109 rows")


@pytest.mark.parametrize("content", [b"\xff\xfe\x00\x01binary", b"caf\xe9\n"], ids=["binary", "latin-1"])
def test_cli_unreadable_label_file_is_one_line(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    path.write_bytes(content)
    run = run_cli("validate", path)
    assert run.code == 1
    assert "Traceback" not in run.err
    assert len(run.err.splitlines()) == 1
    assert run.err.startswith(f"error: {path}: ")
    assert path.read_bytes() == content


def test_cli_missing_label_file(tmp_path: Path) -> None:
    run = run_cli("validate", tmp_path / "nope.jsonl")
    assert run.code == 1
    assert "Traceback" not in run.err
    assert run.err.splitlines() == [f"error: {tmp_path / 'nope.jsonl'}: no such file or folder"]


# ---- copies of one sentence must carry the same labels --------------------------------------------

TINY_ARTICLE = "France demands clarity.\n\nThe ceasefire holds.\n\nTHE CEASEFIRE “HOLDS”!\n"


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    """A one-article corpus whose article repeats one sentence (differing in case and quotes)."""
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "tiny.txt").write_text(TINY_ARTICLE, encoding="utf-8")
    rows = [{"id": f"tiny-{u.index:03d}", "article": "tiny", "index": u.index, "start": u.start,
             "end": u.end, "text": u.text, "topic": "ceasefire_terms", "stance": "neutral"}
            for u in segment(TINY_ARTICLE)]
    assert [r["text"] for r in rows] == ["France demands clarity.", "The ceasefire holds.",
                                         "THE CEASEFIRE “HOLDS”!"]
    assert normalise(rows[1]["text"]) == normalise(rows[2]["text"])
    return folder, rows


def _dump(rows: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(r, ensure_ascii=False) for r in rows]


def test_consistent_copies_are_valid(tiny_corpus: Any, write_labels: Any) -> None:
    folder, rows = tiny_corpus
    from karabakh_tagger.corpus import load_articles

    assert validate_units(_dump(rows), load_articles(folder))[1] == []
    run = run_cli("validate", write_labels(_dump(rows)), "--articles", folder)
    assert run.code == 0, run.err
    assert "3 rows, 1 articles, all valid" in run.out


@pytest.mark.parametrize("changes", [{"topic": "turkey_role"}, {"stance": "critical"},
                                     {"topic": "turkey_role", "stance": "critical"}])
def test_conflicting_labels_on_a_repeated_sentence(changes: dict[str, str], tiny_corpus: Any,
                                                   write_labels: Any) -> None:
    folder, rows = tiny_corpus
    rows[2].update(changes)
    from karabakh_tagger.corpus import load_articles

    _, problems = validate_units(_dump(rows), load_articles(folder))
    assert [p.line for p in problems] == [3] * len(changes)
    for problem, (task, value) in zip(problems, sorted(changes.items(), key=lambda kv: kv[0] != "topic"),
                                      strict=True):
        original = "ceasefire_terms" if task == "topic" else "neutral"
        assert problem.message.startswith(f"{task} {value!r} differs from line 2 ({original!r})")
    path = write_labels(_dump(rows))
    before = path.read_bytes()
    run = run_cli("validate", path, "--articles", folder)
    _check_cli_rejects(run, path, problems)
    assert path.read_bytes() == before


# ---- label_counts and normalise ------------------------------------------------------------------

def test_label_counts_on_the_real_rows(label_lines: Lines) -> None:
    rows = [json.loads(line) for line in label_lines]
    counts = label_counts(rows)
    assert list(counts) == list(TASKS)
    for task, names in TASKS.items():
        assert list(counts[task]) == list(names)  # scheme order, every class present
        assert sum(counts[task].values()) == 109
        assert dict(counts[task]) == {n: Counter(r[task] for r in rows)[n] for n in names}


def test_label_counts_keeps_absent_classes_at_zero() -> None:
    rows = [{"topic": "other", "stance": "neutral"}, {"topic": "other", "stance": "critical"}]
    counts = label_counts(rows)
    assert counts["topic"]["other"] == 2
    assert counts["topic"]["turkey_role"] == 0
    assert "turkey_role" in counts["topic"]
    assert dict(counts["stance"]) == {"supportive": 0, "critical": 1, "neutral": 1}
    assert label_counts([]) == {task: Counter(dict.fromkeys(names, 0)) for task, names in TASKS.items()}


@pytest.mark.parametrize(("a", "b"), [
    ("The ceasefire holds.", "the ceasefire holds"),
    ("“Ambiguities” remain!", '"ambiguities" REMAIN'),
    ("a\u00a0b\t c\n", "a b c"),
    ("ﬁghters", "fighters"),  # NFKC
    ("Straße", "STRASSE"),  # casefold
    ("Nagorno-Karabakh", "nagorno karabakh"),
])
def test_normalise_equates_copies(a: str, b: str) -> None:
    assert normalise(a) == normalise(b)


def test_normalise_output_and_what_it_keeps_apart() -> None:
    assert normalise("  France, on Tuesday: “urged” Russia…  ") == "france on tuesday urged russia"
    assert normalise("") == ""
    assert normalise("?!…") == ""
    assert normalise("snake_case") == "snake_case"
    assert normalise("Turkey will send troops") != normalise("Turkey will not send troops")
    assert normalise("2,000 peacekeepers") == "2 000 peacekeepers"



# ---- the composed batches of labels/authored/ ------------------------------------------------------

def test_the_real_composed_batches_are_valid_and_checked_against_the_corpus() -> None:
    run = run_cli("validate", "labels/authored")
    assert run.code == 0, run.err
    rows = [r for p in sorted(AUTHORED_DIR.glob("*.jsonl")) for r in read_jsonl(p)]
    assert run.out.splitlines()[0] == (f"labels/authored: {len(rows)} composed rows in "
                                       f"{len(list(AUTHORED_DIR.glob('*.jsonl')))} batches, all valid "
                                       "(checked against labels/sentences.jsonl)")


GOOD = {"id": "b98-0001", "batch": "b98-test", "text": "Refugees queued in the snow at the checkpoint.",
        "topic": "refugees_humanitarian", "stance": "neutral", "source": "authored",
        "note": "subject is the displaced people"}
FRAME = "Putin said on Tuesday that the peacekeepers would stay for five years in the region."
CORPUS_UNIT = read_jsonl(LABELS_FILE)[2]


def _row(n: int, **changes: Any) -> dict[str, Any]:
    return {**GOOD, "id": f"b98-{n:04d}", "text": f"{GOOD['text']} Day {n} of queueing, said a driver "
                                                  f"with {n * 7} kilos of flour.", **changes}


@pytest.mark.parametrize(("rows", "line", "fragment"), [
    ([_row(1, topic="turkey")], 1, "unknown topic 'turkey' (did you mean 'turkey_role'?)"),
    ([_row(1, stance="critical", topic="other")], 1, "topic 'other' is always neutral"),
    ([{k: v for k, v in _row(1).items() if k != "batch"}], 1, "missing field 'batch'"),
    ([{k: v for k, v in _row(1).items() if k != "note"}], 1, "missing field 'note'"),
    ([_row(1, note="  ")], 1, "empty text or note"),
    ([_row(1, batch="b97-other")], 1, "differs from the file's name"),
    ([_row(1, source="corpus")], 1, "source must be 'authored'"),
    ([_row(1), _row(2, id="b98-0001")], 2, "duplicate id (first at"),
    ([_row(1), _row(2, text=_row(1)["text"].upper())], 2, "duplicate text (first at"),
    ([_row(1, text=FRAME), _row(2, text=FRAME.replace("Putin", "Aliyev"))], 2,
     "near-duplicate of"),
    ([_row(1, text=CORPUS_UNIT["text"])], 1, f"repeats corpus unit {CORPUS_UNIT['id']}"),
    ([_row(1, text=CORPUS_UNIT["text"].replace("Russia", "Moscow") + " Indeed.")], 1,
     f"near-duplicate of corpus unit {CORPUS_UNIT['id']}"),
])
def test_each_problem_of_a_batch_is_one_line_with_file_and_line(tmp_path: Path, rows: list[dict[str, Any]],
                                                                 line: int, fragment: str) -> None:
    folder = tmp_path / "authored"
    folder.mkdir()
    shutil.copy(LABELS_FILE, tmp_path / "sentences.jsonl")
    path = write_jsonl(folder / "b98-test.jsonl", rows)
    before = path.read_bytes()
    run = run_cli("validate", folder)
    assert run.code == 1, run.describe()
    assert "Traceback" not in run.err
    problem_lines = run.err_lines[:-1]
    assert any(x.startswith(f"{path}:{line}: ") and fragment in x for x in problem_lines), run.err
    assert run.err_lines[-1] == f"{folder}: {len(problem_lines)} problem(s); nothing was changed"
    assert path.read_bytes() == before


def test_validate_from_a_subfolder_resolves_paths_from_its_arguments(tmp_path: Path) -> None:
    folder = tmp_path / "labels" / "authored"
    folder.mkdir(parents=True)
    shutil.copy(LABELS_FILE, tmp_path / "labels" / "sentences.jsonl")
    write_jsonl(folder / "b98-test.jsonl", [_row(1, text=CORPUS_UNIT["text"])])
    run = run_cli("validate", "authored", cwd=tmp_path / "labels")
    assert run.code == 1 and f"repeats corpus unit {CORPUS_UNIT['id']}" in run.err, run.describe()
    (tmp_path / "labels" / "sentences.jsonl").unlink()
    run = run_cli("validate", folder, cwd=tmp_path)
    assert run.code == 1 and len(run.err_lines) == 1, run.describe()
    assert "cannot check that composed rows are new sentences" in run.err and "--labels" in run.err
    assert run_cli("validate", folder, "--labels", LABELS_FILE, cwd=ROOT).code == 1  # the repeat again

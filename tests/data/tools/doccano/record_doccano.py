"""Record the doccano fixtures of this folder from a real doccano 1.8.4 (see README.md here).

Not a test: run it by hand with the Python of a doccano venv (it needs ``requests``), against a
doccano started on 127.0.0.1 only, as README.md says. It drives doccano through the same REST
calls its web UI makes (create a project, import the label list, upload the dataset, choose and
delete labels, mark examples done, export) and saves what doccano gives back, untouched.

    python record_doccano.py --url http://127.0.0.1:8811 --user admin --password PASS \\
        --upload doccano_upload.jsonl --labels doccano_upload.labels.json \\
        --expected ../label-studio/full_review.expected.json --out .
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import requests


class Doccano:
    """A logged-in doccano session (token auth), as one user."""

    def __init__(self, url: str, user: str, password: str) -> None:
        self.url = url.rstrip("/")
        self.http = requests.Session()
        done = self.http.post(f"{self.url}/v1/auth/login/", json={"username": user, "password": password})
        done.raise_for_status()
        self.http.headers["Authorization"] = f"Token {done.json()['key']}"
        self.http.cookies.clear()  # the session cookie would make doccano ask for a CSRF token
        self.me = self.get("/v1/me")

    def get(self, path: str) -> Any:
        done = self.http.get(self.url + path)
        done.raise_for_status()
        return done.json()

    def post(self, path: str, **kwargs: Any) -> Any:
        done = self.http.post(self.url + path, **kwargs)
        if done.status_code >= 400:
            raise RuntimeError(f"POST {path}: {done.status_code} {done.text[:300]}")
        return done.json() if done.content and "json" in done.headers.get("content-type", "") else done.text

    def wait(self, task_id: str) -> Any:
        for _ in range(120):
            status = self.get(f"/v1/tasks/status/{task_id}")
            if status.get("ready"):
                if status.get("error"):
                    raise RuntimeError(f"task {task_id}: {status['error']}")
                return status.get("result")
            time.sleep(0.5)
        raise RuntimeError(f"task {task_id} did not finish")


def make_project(dc: Doccano, name: str, upload: Path, labels: Path, single_label: bool = False) -> int:
    """A Text Classification project (multi-label unless ``single_label``) with labels and data."""
    project = dc.post("/v1/projects", json={
        "name": name, "description": "karabakh-tagger fixture", "guideline": "",
        "project_type": "DocumentClassification", "resourcetype": "TextClassificationProject",
        "random_order": False, "collaborative_annotation": False,
        "single_class_classification": single_label, "allow_member_to_create_label_type": False,
        "tags": []})
    pid = project["id"]
    with labels.open("rb") as handle:
        dc.post(f"/v1/projects/{pid}/category-type-upload", files={"file": (labels.name, handle)})
    with upload.open("rb") as handle:
        upload_id = dc.post("/v1/fp/process/", files={"filepond": (upload.name, handle)})
    task = dc.post(f"/v1/projects/{pid}/upload", json={
        "uploadIds": [upload_id], "format": "JSONL", "task": "DocumentClassification",
        "column_data": "text", "column_label": "label", "encoding": "utf_8"})
    result = dc.wait(task["task_id"])
    if result and result.get("error"):
        raise RuntimeError(f"upload: {result['error']}")
    return pid


def examples(dc: Doccano, pid: int) -> dict[str, dict[str, Any]]:
    """The project's examples by unit id (from their metadata)."""
    found = dc.get(f"/v1/projects/{pid}/examples?limit=1000")["results"]
    return {e["meta"]["unit"]: e for e in found}


def label_ids(dc: Doccano, pid: int) -> dict[str, int]:
    return {label["text"]: label["id"] for label in dc.get(f"/v1/projects/{pid}/category-types")}


def choose(dc: Doccano, pid: int, example: int, label: int) -> int:
    return dc.post(f"/v1/projects/{pid}/examples/{example}/categories", json={"label": label})["id"]


def delete(dc: Doccano, pid: int, example: int, annotation: int) -> None:
    dc.http.delete(f"{dc.url}/v1/projects/{pid}/examples/{example}/categories/{annotation}").raise_for_status()


def confirm(dc: Doccano, pid: int, example: int) -> None:
    """Mark an example done (the check button of the annotation page)."""
    dc.post(f"/v1/projects/{pid}/examples/{example}/states", json={})


def export(dc: Doccano, pid: int, path: Path, approved_only: bool, file_format: str = "JSONL") -> None:
    task = dc.post(f"/v1/projects/{pid}/download", json={"format": file_format,
                                                         "exportApproved": approved_only})
    dc.wait(task["task_id"])
    done = dc.http.get(f"{dc.url}/v1/projects/{pid}/download?taskId={task['task_id']}")
    done.raise_for_status()
    path.write_bytes(done.content)
    print(f"wrote {path} ({len(done.content)} bytes)")


def review(dc: Doccano, pid: int, units: dict[str, dict[str, str]], done: bool = True) -> None:
    """Choose each unit's topic and stance like a reviewer, and mark the example done."""
    ex, ids = examples(dc, pid), label_ids(dc, pid)
    for unit, labels in units.items():
        for task in ("topic", "stance"):
            if labels.get(task):
                choose(dc, pid, ex[unit]["id"], ids[f"{task}:{labels[task]}"])
        if done:
            confirm(dc, pid, ex[unit]["id"])


def add_member(admin: Doccano, pid: int, username: str, password: str) -> None:
    users = {u["username"]: u["id"] for u in admin.get("/v1/users")}
    if username not in users:
        made = admin.post("/v1/users/create", json={"username": username, "email": f"{username}@example.com",
                                                    "password1": password, "password2": password})
        users[username] = made["id"]
    roles = {r["name"]: r["id"] for r in admin.get("/v1/roles")}
    admin.post(f"/v1/projects/{pid}/members", json={"user": users[username], "role": roles["annotator"]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8811")
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", required=True)
    parser.add_argument("--upload", type=Path, required=True)
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--expected", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args()
    expected: dict[str, dict[str, str]] = json.loads(args.expected.read_text(encoding="utf-8"))
    units = list(expected)
    dc = Doccano(args.url, args.user, args.password)
    stamp = time.strftime("%H%M%S")

    # 1. Full review: every example gets the reviewer's topic and stance and is marked done.
    pid = make_project(dc, f"full review {stamp}", args.upload, args.labels)
    export(dc, pid, args.out / "upload_as_loaded.zip", approved_only=False)  # before anyone labelled
    review(dc, pid, expected)
    export(dc, pid, args.out / "full_review.zip", approved_only=True)
    export(dc, pid, args.out / "full_review_json.zip", approved_only=True, file_format="JSON")
    export(dc, pid, args.out / "full_review_csv.zip", approved_only=True, file_format="CSV")

    # 2. Partial review: 4 examples done; -005 labelled but not marked done; -009 gets two topics.
    pid = make_project(dc, f"partial review {stamp}", args.upload, args.labels)
    review(dc, pid, {u: expected[u] for u in units[:4]})
    review(dc, pid, {units[5]: expected[units[5]]}, done=False)
    review(dc, pid, {units[9]: expected[units[9]]})
    choose(dc, pid, examples(dc, pid)[units[9]]["id"], label_ids(dc, pid)["topic:turkey_role"])
    export(dc, pid, args.out / "partial_review_default_export.zip", approved_only=False)
    export(dc, pid, args.out / "partial_review_approved_only.zip", approved_only=True)

    # 3. A full review in which the reviewer deleted the stance of -004 before marking it done.
    pid = make_project(dc, f"deleted stance {stamp}", args.upload, args.labels)
    review(dc, pid, {u: expected[u] for u in units if u != units[4]})
    ex, ids = examples(dc, pid), label_ids(dc, pid)
    choose(dc, pid, ex[units[4]]["id"], ids[f"topic:{expected[units[4]]['topic']}"])
    stance = choose(dc, pid, ex[units[4]]["id"], ids[f"stance:{expected[units[4]]['stance']}"])
    delete(dc, pid, ex[units[4]]["id"], stance)
    confirm(dc, pid, ex[units[4]]["id"])
    export(dc, pid, args.out / "deleted_stance.zip", approved_only=True)

    # 4. Two annotators: admin reviews everything; annotator2 does -000 (other stance) and -001 (same).
    pid = make_project(dc, f"two annotators {stamp}", args.upload, args.labels)
    add_member(dc, pid, "annotator2", args.password + "-2")
    review(dc, pid, expected)
    second = Doccano(args.url, "annotator2", args.password + "-2")
    other = {"supportive": "critical", "critical": "neutral", "neutral": "supportive"}
    review(second, pid, {units[0]: {**expected[units[0]], "stance": other[expected[units[0]]["stance"]]},
                         units[1]: expected[units[1]]})
    export(dc, pid, args.out / "two_annotators_default_export.zip", approved_only=False)
    export(dc, pid, args.out / "two_annotators_approved_only.zip", approved_only=True)


if __name__ == "__main__":
    main()

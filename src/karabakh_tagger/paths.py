"""Default locations, relative to the project root (where the Makefile runs). Every CLI flag that
takes a path defaults to one of these, so they are defined here and nowhere else."""

from pathlib import Path

ARTICLES_DIR = Path("data/articles")
LABELS_FILE = Path("labels/sentences.jsonl")
AUTHORED_DIR = Path("labels/authored")
SECOND_LABELS_DIR = AUTHORED_DIR / "second"
SECOND_ANNOTATOR_FILE = Path("labels/second_annotator.jsonl")
CONFIG_FILE = Path("configs/baseline.yaml")
MODELS_DIR = Path("models")
REPORTS_DIR = Path("reports")
RESULTS_DIR = Path("docs/results")
README_FILE = Path("README.md")

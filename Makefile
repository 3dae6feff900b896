# Short commands. Each one creates or refreshes the local virtual environment (.venv) from
# pyproject.toml first, so a fresh clone needs nothing but Python 3.10+ and make.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pip warns once per package about index folders some machines configure but lack; hide only that.
QUIET_PIP := { grep -v '^WARNING: Location .* is ignored' || true; }

.PHONY: suite test lint lab clean-venv

suite: $(STAMP)  ## run the experiment suite (reports/ and results/)
	$(BIN)/colorize-suite $(ARGS)

test: lint  ## style checks, then the whole test suite
	$(BIN)/python -m pytest $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check colorize_core tests tools notebooks
	$(BIN)/ruff format --check colorize_core tests tools notebooks

lab: $(STAMP)  ## JupyterLab on this checkout (notebooks/, reports/, results/) with its kernel
	$(BIN)/jupyter lab $(ARGS)

# (Re)install whenever pyproject.toml changes; pip only fetches what is missing or outdated.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip 2>&1 | $(QUIET_PIP)
	$(BIN)/python -m pip install --quiet --editable '.[dev]' 2>&1 | $(QUIET_PIP)
	$(BIN)/python -m ipykernel install --sys-prefix --name colorize --display-name "Python (colorize)"
	touch $(STAMP)

clean-venv:
	rm -rf $(VENV)

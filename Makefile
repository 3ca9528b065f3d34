# scimgate: every target creates or refreshes .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUNTIME := $(VENV)/.runtime
WORKERS ?= auto

.PHONY: serve test bench lint venv clean

venv: $(STAMP)

# The development toolchain (tests, lint, bench) on top of the runtime.
$(STAMP): $(RUNTIME)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

XMLSEC := command -v xmlsec1 >/dev/null || (apt-get update -q && apt-get install -y -q xmlsec1)

# Runtime dependencies only: all `make serve` needs.
$(RUNTIME): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e .
	touch $(RUNTIME)

serve: $(RUNTIME)
	$(XMLSEC)
	$(BIN)/scimgate serve

test: $(STAMP)
	$(XMLSEC)
	command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium chromium-driver)
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadscope -q

bench: $(STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

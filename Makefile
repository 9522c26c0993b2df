# The two front-door commands: `make demo` and `make test`. Each creates .venv when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test bench docs install clean

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml Makefile | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test,examples,mlflow]'
	# the real OPA in process; its metadata claims Python >= 3.14 but it runs on 3.11
	$(BIN)/python -m pip install -q --no-deps --ignore-requires-python 'opa-golib-python-bindings==0.4.4'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python tools/demo.py

test: $(STAMP)
	$(BIN)/ruff check tools tests
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python tools/bench.py

# regenerate the --help blocks of docs/commands.md and the rule tables of docs/policies.md
docs: $(STAMP)
	$(BIN)/python tools/docs_commands.py --write

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info

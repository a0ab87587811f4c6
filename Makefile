# kafkasim: every target creates .venv itself; only Python 3.11+ and make are needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/kafkasim run scenarios/07-acks-1-lost-on-failover.yaml --out demo-out
	@echo "plot and trace written to demo-out/"

test: $(STAMP)
	$(BIN)/python -m pytest -n 2

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/shapes.py && $(BIN)/python bench/assignors.py

lint: $(STAMP)
	$(BIN)/ruff check kafkasim tests bench

clean:
	rm -rf $(VENV) demo-out .pytest_cache .hypothesis

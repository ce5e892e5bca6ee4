# The workbook's commands; the README explains each. Run `make help` for the list.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Data: an explicit FASHION_MNIST_ROOT wins, then ../shared/data where it exists, then ./data.
FASHION_MNIST_ROOT ?= $(if $(wildcard ../shared/data/FashionMNIST/raw),$(abspath ../shared/data),$(CURDIR)/data)
export FASHION_MNIST_ROOT
COURSE := $(sort $(wildcard notebooks/*.ipynb))
SOLUTIONS := $(sort $(wildcard solutions/*.ipynb))
# Nothing hangs: seconds allowed per notebook cell, and for all the notebooks of one command
# (`make run RUN_TIMEOUT=3600` to change). pytest's limits are in pyproject.toml.
CELL_TIMEOUT ?= 600
RUN_TIMEOUT ?= 1800
EXECUTE_TIMEOUT ?= 3600
RUN_NOTEBOOKS := $(PY) -m tools.run_notebooks --cell-timeout $(CELL_TIMEOUT)
# The book's own environment (Jupyter Book 1 and Sphinx), kept apart from the course's pins.
BOOK_VENV ?= build/book-venv
# Binder and Colab launch links need the repository on GitHub: taken from `origin`, or set it.
BOOK_REPOSITORY_URL ?= $(shell git remote get-url origin 2>/dev/null | sed -nE 's#^(https://github\.com/|git@github\.com:)([^/]+/[^/]+)$$#https://github.com/\2#p' | sed 's/\.git$$//')

.PHONY: help env run test test-ui book lab lab-zh doctor bench bench-grading execute exercises grade i18n zh clean

help:  ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

env: $(VENV)/.installed  ## create the virtual environment (.venv) with the pinned packages

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@# nbgrader is installed for instructors' command line and its test; its JupyterLab menus and
	@# server extensions stay off, so students see the plain JupyterLab.
	$(VENV)/bin/jupyter labextension disable --level=sys_prefix @jupyter/nbgrader > /dev/null 2>&1
	for part in formgrader validate_assignment assignment_list course_list; do \
		$(VENV)/bin/jupyter server extension disable --sys-prefix nbgrader.server_extensions.$$part > /dev/null 2>&1; done
	$(PY) -m utils.doctor --quiet
	touch $@

run: env  ## execute every course notebook headless into build/ (notebooks and HTML)
	@$(PY) -m utils.data
	$(RUN_NOTEBOOKS) --run-timeout $(RUN_TIMEOUT) --output-dir build/notebooks --html-dir build/html $(COURSE)
	@echo "Executed notebooks: build/notebooks/  HTML: build/html/"

test: env  ## all tests: unit tests and nbval, on the real data only (grading tests skipped without bubblewrap)
	FASHION_MNIST_STRICT=1 $(PY) -m pytest

test-ui: env book  ## browser tests: JupyterLab in headless Chromium runs every notebook; the built book
	FASHION_MNIST_STRICT=1 $(PY) -m pytest -p no:cacheprovider -o addopts="" tests_ui

book: $(BOOK_VENV)/.installed  ## the course as a static website in build/book/_build/html, Chinese edition in its zh/ (stored outputs, no re-run)
	$(BOOK_VENV)/bin/python book/prepare.py build/book/src --repository-url "$(BOOK_REPOSITORY_URL)"
	$(BOOK_VENV)/bin/python book/prepare.py build/book/src-zh --language zh_CN --repository-url "$(BOOK_REPOSITORY_URL)"
	$(BOOK_VENV)/bin/jupyter-book build build/book/src --path-output build/book --warningiserror --keep-going
	$(BOOK_VENV)/bin/jupyter-book build build/book/src-zh --path-output build/book/zh --warningiserror --keep-going
	rm -rf build/book/_build/html/zh
	cp -R build/book/zh/_build/html build/book/_build/html/zh
	@echo "Book: build/book/_build/html/index.html (English), build/book/_build/html/zh/index.html (Chinese)"

$(BOOK_VENV)/.installed: requirements-book.txt
	$(PYTHON) -m venv $(BOOK_VENV)
	$(BOOK_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BOOK_VENV)/bin/python -m pip install --quiet -r requirements-book.txt
	touch $@

lab: env  ## open JupyterLab on the whole workbook, notebook 01 in front
	@$(VENV)/bin/jupyter trust $(COURSE) $(SOLUTIONS) $(wildcard exercises/*.ipynb) > /dev/null
	@echo "Marked the workbook's notebooks trusted, so that their saved widgets render."
	$(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" $(if $(filter 0,$(shell id -u)),--allow-root) \
		notebooks/01_softmax_regression.ipynb

doctor: env  ## versions, torch/torchvision match, device, data
	$(PY) -m utils.doctor

bench: env  ## the performance comparison in benchmarks/ (not part of `make test`)
	$(PY) -m benchmarks.bench

bench-grading: env  ## how fast the sandboxed grader grades a class (benchmarks/grading_bench.py)
	$(PY) -m benchmarks.grading_bench

execute: env  ## maintainers: re-run notebooks/ and solutions/ in place (fresh kernels, real data), regenerate exercises/
	FASHION_MNIST_STRICT=1 $(RUN_NOTEBOOKS) --run-timeout $(EXECUTE_TIMEOUT) --inplace $(COURSE) $(SOLUTIONS)
	$(PY) -m grading generate

exercises: env  ## regenerate exercises/ from solutions/
	$(PY) -m grading generate

grade: env  ## grade submissions in the sandbox: make grade NB="files or folders" [JOBS=2] [OUT=build/grades]
	$(PY) -m grading grade $(NB) --jobs $(or $(JOBS),1) --out $(or $(OUT),build/grades)

i18n: env  ## update the Chinese catalogs (i18n/zh_CN/*.po) from the English notebooks; list what needs translating
	$(PY) -m tools.i18n update
	$(PY) -m tools.i18n readme
	$(PY) -m grading.messages
	$(PY) -m utils.messages

ZH_NOTEBOOKS = $(addprefix zh/,$(shell grep -v '^\s*\(#\|$$\)' i18n/MANIFEST))

zh: env  ## build the Chinese notebooks (zh/) from the English ones and the catalogs, execute them, make their exercises
	$(PY) -m tools.i18n build
	FASHION_MNIST_STRICT=1 $(RUN_NOTEBOOKS) --run-timeout $(EXECUTE_TIMEOUT) --inplace $(ZH_NOTEBOOKS)
	$(PY) -m tools.i18n exercises

LAB_ZH_SETTINGS := build/lab-zh/settings

lab-zh: env  ## JupyterLab in Chinese on the Chinese edition (zh/), notebook 01 in front
	@mkdir -p $(LAB_ZH_SETTINGS)/@jupyterlab/translation-extension
	@echo '{"locale": "zh_CN"}' > $(LAB_ZH_SETTINGS)/@jupyterlab/translation-extension/plugin.jupyterlab-settings
	@$(VENV)/bin/jupyter trust $(wildcard zh/*/*.ipynb) > /dev/null
	$(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)/zh" --LabApp.user_settings_dir="$(CURDIR)/$(LAB_ZH_SETTINGS)" \
		$(if $(filter 0,$(shell id -u)),--allow-root) zh/notebooks/01_softmax_regression.ipynb

clean:  ## remove the environment and build outputs (not the data)
	rm -rf $(VENV) build

# Convolutional Neural Networks for Computer Vision: install, lint, test, book, grade.
# The README's two commands (`bash course.sh book`, `bash course.sh test`) end up here.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
EXTRAS ?= cpu,grading,book,dev
JOBS ?= 2
CHAPTERS := $(notdir $(wildcard solutions/*))
NBGRADER := $(BIN)/nbgrader
NBGRADER_CONFIG := --NbGrader.config_file=autograder/nbgrader_config.py

# nbgrader runs `alembic` from PATH when it creates a gradebook.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

# TensorFlow stays quiet in every process the targets start.
export TF_CPP_MIN_LOG_LEVEL := 3
export TF_ENABLE_ONEDNN_OPTS := 0
export PYTHONUNBUFFERED := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# Tests and builds run with the network blocked for anything but loopback.
OFFLINE := CNNVISION_BLOCK_NETWORK=1 PYTHONPATH=$(CURDIR)/tests/netguard

.PHONY: help install data models lint unit notebooks check-notebooks nbval test book browser grade bench bench-grade clean

help:
	@echo "make book      build the book into _build/html (installs what it needs)"
	@echo "make test      lint, unit tests, notebook checks, strict book build, browser test"
	@echo "make nbval     run every solution notebook in a plain kernel (make test autogrades them)"
	@echo "make browser   open the built book in headless Chromium, network cut (after make book)"
	@echo "make notebooks regenerate notebooks/ (student versions) from solutions/"
	@echo "make grade CHAPTER=convolution [SUBMISSIONS=path] [SCHEDULER=tcp://host:8786]  grade a cohort"
	@echo "make bench     time conv2d loop / fast / TensorFlow"
	@echo "make bench-grade  40 submissions: sequential nbgrader autograde vs make grade"

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

install: $(VENV)/.installed data

data:
	@bash scripts/install_data.sh

# The course CNN trained on Fashion-MNIST, cached (keyed by its code and config)
# and reused by the book, the notebooks and later chapters: train it once, up front.
# EfficientNet-Lite0's ImageNet weights converted and cached too, before any kernel
# (the grader's sandboxed ones included) needs them.
models: install
	$(OFFLINE) $(PY) -c "from cnnvision.fashion_cnn import load_fashion_cnn; load_fashion_cnn()"
	$(OFFLINE) $(PY) -c "from cnnvision.imagenet import imagenet_weights_path; imagenet_weights_path()"

lint: install
	$(BIN)/ruff check .

unit: models
	$(OFFLINE) $(BIN)/pytest -q -n $(JOBS) --dist loadgroup --ignore=tests/browser tests

notebooks: install
	@for chapter in $(CHAPTERS); do \
	  $(NBGRADER) generate_assignment $$chapter --force $(NBGRADER_CONFIG) --log-level=WARN || exit 1; \
	done

check-notebooks: notebooks
	@git diff --exit-code --stat -- notebooks/ || \
	  (echo "notebooks/ differs from what solutions/ generates: run 'make notebooks' and commit."; exit 1)
	@test -z "$$(git status --porcelain --untracked-files=all -- notebooks/)" || \
	  (echo "untracked files in notebooks/: run 'make notebooks' and commit them."; exit 1)

# Every cell of every solution notebook runs without an error, in a plain kernel. `make test`
# does not run it: the unit tests autograde each solution (tests/test_chapters_autograde.py),
# which runs the same cells once, in the grader's sandbox, and also requires nothing on stderr.
nbval: models
	$(OFFLINE) $(BIN)/pytest -q -p no:cacheprovider --nbval-lax -n $(JOBS) --dist loadscope solutions/

# The pages are executed first, JOBS at a time, into the cache the build reads
# (scripts/execute_book.py); the build executes and reports whatever is not cached.
book: models
	$(OFFLINE) $(PY) scripts/execute_book.py --jobs $(JOBS)
	$(OFFLINE) $(BIN)/jupyter-book build . -W --keep-going --all
	@echo "Book built: $(CURDIR)/_build/html/index.html"

# The built book in Debian's Chromium: maths, images, alt text, links, search, 400 px.
browser: book
	@bash scripts/install_browser.sh
	$(OFFLINE) CNNVISION_BOOK_REQUIRED=1 $(BIN)/pytest -q -p no:cacheprovider tests/browser

test: lint check-notebooks unit book browser

# With SCHEDULER the network stays open: the scheduler and its workers are other machines
# (the kernels on them have no network either way).
grade: install
	@test -n "$(CHAPTER)" || { echo "usage: make grade CHAPTER=convolution [SUBMISSIONS=folder-or-zip] [WORKERS=n] [SCHEDULER=tcp://host:8786]"; exit 1; }
	$(if $(SCHEDULER),,$(OFFLINE)) $(PY) -m autograder grade $(CHAPTER) $(SUBMISSIONS) $(if $(WORKERS),--workers $(WORKERS)) $(if $(SCHEDULER),--scheduler $(SCHEDULER))

bench-grade: install
	$(OFFLINE) $(PY) -m autograder.bench_grade --n 40 --workers 2

bench: install
	$(OFFLINE) $(PY) -m autograder.bench

clean:
	rm -rf _build instructor .pytest_cache

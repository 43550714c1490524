# Two commands run the course: `make lab` opens it, `make test` proves it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
PORT   ?= 8888

.PHONY: install lab test test-fast test-browser exercises book clean sandbox

install: $(STAMP)

# Re-install only when the package's metadata changed; the course itself is an editable install.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' 2>&1 \
	  | grep -v "is ignored: it is neither a file nor a directory" || true
	@$(BIN)/python -c "import torch, torchvision; assert torch.__version__.startswith('2.14.1'), torch.__version__"
	@touch $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=. --ip=127.0.0.1 --port=$(PORT) $(ROOT_FLAG) \
	  --ServerApp.open_browser=False --LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
	  --LabApp.extension_manager=readonly

# The grader's sandbox: bubblewrap, installed where it is missing, and its self-test (tools/install_bwrap.sh).
sandbox: $(STAMP)
	PYTHON=$(BIN)/python tools/install_bwrap.sh

test: $(STAMP) sandbox
	$(BIN)/python -m pytest tests chapters solutions --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider

# JupyterLab in headless Chromium, driven as a student would, and the built book (tests/browser/README.md).
test-browser: $(STAMP) book
	PYTHON=$(BIN)/python tools/install_browser.sh
	COURSEKIT_BROWSER_TESTS=1 $(BIN)/python -m pytest tests/browser -p no:cacheprovider

test-fast: $(STAMP) sandbox
	$(BIN)/python -m pytest tests -p no:cacheprovider

# The course as a static site in _build/book/, from the stored outputs (nothing runs), then its check.
book: $(STAMP)
	@$(BIN)/python -c "import myst_nb, sphinx_book_theme" 2>/dev/null || \
	  $(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[book]'
	$(BIN)/python tools/build_book.py
	$(BIN)/python tools/check_book.py

exercises: $(STAMP)
	$(BIN)/python -m coursekit release solutions exercises

clean:
	rm -rf $(VENV) .pytest_cache _build

#!/usr/bin/env bash
# Install what tests/browser needs, skipping whatever is already there (so it is quick the second time):
#   - Debian's chromium, from apt (the suite drives /usr/bin/chromium; it never runs `playwright install`);
#   - Playwright for Python (the `browser` extra of pyproject.toml), into the project's virtualenv (or the interpreter named by $PYTHON).
# Exits non-zero, saying what failed, when either cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=(); elif command -v sudo >/dev/null; then SUDO=(sudo -n); else
    echo "install_browser: /usr/bin/chromium is missing and I am not root (and have no sudo) to apt-get it;" \
         "ask an administrator for: apt-get install chromium" >&2
    exit 1
  fi
  echo "install_browser: installing Debian's chromium (apt-get, about half a minute)"
  "${SUDO[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq chromium >/dev/null
fi

if ! "$PYTHON" -c "import playwright" 2>/dev/null; then
  echo "install_browser: installing Playwright for Python into $("$PYTHON" -c 'import sys; print(sys.prefix)')"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check -e '.[browser]'
fi

echo "install_browser: ready: $(/usr/bin/chromium --version 2>/dev/null)," \
     "playwright $("$PYTHON" -c 'import importlib.metadata as m; print(m.version("playwright"))')"

#!/usr/bin/env bash
# Install what the grader's sandbox needs (coursekit/grading/boundary.py), skipping it when it is there:
#   - bubblewrap (`bwrap`), from apt; as root the grader also uses util-linux's `setpriv` (Debian: always there).
# Then run the grader's own self-test (`bwrap --unshare-all ... true`, as a kernel's sandbox is made).
# Exits non-zero, saying what failed, when bwrap cannot be installed or cannot make a sandbox here
# (a container that forbids namespaces: see README, "Grading inside Docker or Podman").
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}

if ! command -v bwrap >/dev/null; then
  if [ "$(id -u)" = 0 ]; then SUDO=(); elif command -v sudo >/dev/null; then SUDO=(sudo -n); else
    echo "install_bwrap: bwrap is missing and I am not root (and have no sudo) to apt-get it;" \
         "ask an administrator for: apt-get install bubblewrap" >&2
    exit 1
  fi
  echo "install_bwrap: installing Debian's bubblewrap (apt-get)"
  "${SUDO[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq bubblewrap >/dev/null
fi

why=$("$PYTHON" -c "from coursekit.grading.boundary import self_test; print(self_test())")
if [ -n "$why" ]; then
  echo "install_bwrap: bwrap is installed but cannot make the grader's sandbox here: $why" >&2
  exit 1
fi
echo "install_bwrap: ready: $(bwrap --version)"

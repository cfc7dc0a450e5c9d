#!/usr/bin/env bash
# The package as a firm installs it: build the sdist and the wheel (the wheel
# from the sdist, so a file missing from the sdist fails here), install the
# wheel into a clean virtualenv outside the checkout without any index, and
# from a directory that is not the checkout run what a new user runs first:
# `powerpeg --version`, `powerpeg list`, `validate` of every bundled experiment
# by name, `powerpeg run knight-2012-controls` (exit 0), and, with a Docker
# engine, `powerpeg images` (the compose images from the installed wheel).
#
# Offline: the build uses the dev venv's setuptools/wheel/build (--no-isolation);
# the install takes the dependencies from a wheelhouse pinned to the dev venv's
# versions (build/wheelhouse, rebuilt only when those change; it reuses the
# compose images' wheelhouse when `make images` made one).
# Usage: bash .ci/wheel-check.sh   (PY: the dev venv's python, default .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
PY="${PY:-$root/.venv/bin/python}"
work=$(mktemp -d /tmp/powerpeg-wheel-check.XXXXXX)
trap 'rm -rf "$work"' EXIT
t0=$SECONDS
step() { echo "wheel-check: $1 ($((SECONDS - t0)) s)"; }

"$PY" -m build --no-isolation --outdir "$work/dist" . >"$work/build.log" 2>&1 \
  || { cat "$work/build.log" >&2; echo "wheel-check: build failed" >&2; exit 1; }
sdist=$(ls "$work"/dist/powerpeg-*.tar.gz)
wheel=$(ls "$work"/dist/powerpeg-*.whl)
step "built $(basename "$sdist") and $(basename "$wheel")"

# the dependencies, pinned to what the dev venv runs (and the tests pass with)
house="$root/build/wheelhouse"
mkdir -p "$house"
"$PY" -m pip freeze --exclude-editable | grep -v '^powerpeg[= @]' > "$work/constraints.txt"
key=$(cat "$work/constraints.txt" pyproject.toml | sha256sum | cut -c1-16)
if [ "$(cat "$house/.key" 2>/dev/null)" != "$key" ]; then
  find_links=()
  [ -d build/compose-context/wheels/deps ] && find_links=(--find-links build/compose-context/wheels/deps)
  "$PY" -m pip wheel -q --wheel-dir "$house" -c "$work/constraints.txt" "${find_links[@]}" "$wheel" \
    >"$work/pip.log" 2>&1 || { cat "$work/pip.log" >&2; exit 1; }
  rm -f "$house"/powerpeg-*.whl
  echo "$key" > "$house/.key"
  step "wheelhouse refreshed"
fi

# a clean venv from the base interpreter (not the dev venv's site-packages), outside the checkout
base=$("$PY" -c 'import sys; print(sys._base_executable)')
# without pip (ensurepip costs more than the install): the dev venv's pip installs into it (--python)
"$base" -m venv --without-pip "$work/venv"
# --no-compile: byte-compiling every dependency up front doubles the install; imports compile what they use
"$PY" -m pip --python "$work/venv/bin/python" install -q --no-compile --no-index --find-links "$house" "$wheel"
step "installed into a clean venv (--no-index)"

# the machine's toxiproxy-server (make setup builds it into the dev venv): network experiments need it
mkdir -p "$work/bin"
tp=$(command -v "$root/.venv/bin/toxiproxy-server" toxiproxy-server 2>/dev/null | head -1 || true)
[ -n "$tp" ] && ln -s "$(readlink -f "$tp")" "$work/bin/toxiproxy-server"
mkdir -p "$work/cwd" "$work/home"
cd "$work/cwd"
export PATH="$work/venv/bin:$work/bin:$PATH" POWERPEG_HOME="$work/home"
unset PYTHONPATH
pp="$work/venv/bin/powerpeg"

"$pp" --version
# nothing may come from the checkout: the installed package's own files only
where=$("$pp" where experiments)
case "$where" in "$root"/*) echo "wheel-check: experiments found in the checkout ($where), not the package" >&2; exit 1;; esac
"$pp" list
names=$("$pp" list --json | "$work/venv/bin/python" -c 'import json, sys; print(" ".join(e["name"] for e in json.load(sys.stdin)["experiments"]))')
[ -n "$names" ] || { echo "wheel-check: powerpeg list shows no bundled experiment" >&2; exit 1; }
# shellcheck disable=SC2086 # one name per word
"$pp" validate $names
step "validated every bundled experiment by name"
"$pp" run knight-2012-controls --out "$work/report" --quiet
step "powerpeg run knight-2012-controls: exit 0"

# `powerpeg images` from the installed wheel: the package's own compose files and build script, and the
# installed code itself as the images' project wheel. Tagged powerpeg-wheelcheck-*, so the powerpeg-*
# images that `make images` builds and the compose tests use are never touched; kept, with their context
# in build/wheel-check-images, so a run with nothing changed rebuilds nothing. Needs a Docker engine:
# without one this is skipped, unless POWERPEG_REQUIRE_DOCKER=1 (CI) makes that a failure.
if docker info >/dev/null 2>&1; then
  # a firm's venv has pip (the dependencies' wheelhouse is built with it); this one was made without
  "$work/venv/bin/python" -m ensurepip >/dev/null
  PIP_NO_INDEX=1 PIP_FIND_LINKS="$house ${PIP_FIND_LINKS:-}" IMAGE_PREFIX=powerpeg-wheelcheck- \
    "$pp" images --context "$root/build/wheel-check-images"
  for image in targets:latest router:v1 router:v2 toxiproxy:latest locust:latest; do
    docker image inspect "powerpeg-wheelcheck-$image" >/dev/null 2>&1 \
      || { echo "wheel-check: powerpeg images built no powerpeg-wheelcheck-$image" >&2; exit 1; }
  done
  # the router image runs the installed code: the same router/core.py, byte for byte
  digest='import hashlib, powerpeg.targets.router.core as m; print(hashlib.sha256(open(m.__file__, "rb").read()).hexdigest())'
  inside=$(docker run --rm --entrypoint python powerpeg-wheelcheck-router:v1 -c "$digest")
  [ "$inside" = "$("$work/venv/bin/python" -c "$digest")" ] \
    || { echo "wheel-check: powerpeg-wheelcheck-router:v1 does not carry the installed powerpeg" >&2; exit 1; }
  step "powerpeg images from the installed wheel: powerpeg-wheelcheck-* built and carry the installed code"
elif [ "${POWERPEG_REQUIRE_DOCKER:-}" = 1 ]; then
  echo "wheel-check: POWERPEG_REQUIRE_DOCKER=1 and no Docker engine answers (compose/ensure-docker.sh)" >&2; exit 1
else
  step "powerpeg images skipped: no Docker engine answers"
fi
echo "wheel-check: ok"

#!/usr/bin/env bash
# `make images`: every image of the compose backend, offline.
#   1. the base image (BASE_IMAGE, or powerpeg-base:bookworm from debootstrap)
#   2. a wheelhouse on the host (`pip wheel`): dependencies pinned to the
#      venv's versions, rebuilt only when those change; the project wheel,
#      rebuilt only when its sources change
#   3. powerpeg-targets, powerpeg-router:v1/:v2, powerpeg-toxiproxy,
#      powerpeg-locust, each installed with `pip install --no-index`
# Each image carries a hash of what it was built from; an image whose hash
# matches is not rebuilt, so a second run with nothing changed takes seconds.
# From a checkout it runs in the repository (CTX build/compose-context); from an
# installed powerpeg, `powerpeg images` (harness/images_cmd.py) gives CTX and
# PROJECT_WHEEL, the installed distribution as a wheel, in place of the sources.
# IMAGE_PREFIX (default powerpeg-) names the images; the compose files use the default.
set -euo pipefail
COMPOSE=$(cd "$(dirname "$0")" && pwd)
PROJECT_WHEEL="${PROJECT_WHEEL:-}"
[ -n "$PROJECT_WHEEL" ] || cd "$COMPOSE/.."
BASE_IMAGE="${BASE_IMAGE:-python:3.11-slim}"
FALLBACK_BASE="powerpeg-base:bookworm"
PY="${PY:-.venv/bin/python}"
CTX="${CTX:-build/compose-context}"
P="${IMAGE_PREFIX:-powerpeg-}"
TOXIPROXY_OFFICIAL="${TOXIPROXY_OFFICIAL:-ghcr.io/shopify/toxiproxy:2.12.0}"

docker info >/dev/null 2>&1 || { echo "images: no Docker engine answers ($COMPOSE/ensure-docker.sh starts one)" >&2; exit 3; }
started=$(date +%s)

base=$(bash "$COMPOSE/base-image.sh" "$BASE_IMAGE" "$FALLBACK_BASE")
base_id=$(docker image inspect -f '{{.Id}}' "$base")
echo "images: base $base"

mkdir -p "$CTX/wheels/deps" "$CTX/wheels/project"
cp "$COMPOSE"/Dockerfile.* "$COMPOSE/entrypoint.py" "$COMPOSE/http-ok.sh" "$COMPOSE/requirements-targets.txt" "$CTX/"
chmod +x "$CTX/http-ok.sh"

# dependencies, pinned to what the host venv runs (and tests against); installed, the venv's pins
# already change with powerpeg's declared dependencies, so they stand in for pyproject.toml
"$PY" -m pip freeze --exclude-editable | grep -v '^powerpeg[= @]' > "$CTX/constraints.txt.new"
project_meta=pyproject.toml
[ -z "$PROJECT_WHEEL" ] || project_meta=/dev/null
deps_key=$(cat "$CTX/constraints.txt.new" "$project_meta" "$COMPOSE/requirements-targets.txt" | sha256sum | cut -c1-16)
if [ "$(cat "$CTX/wheels/deps/.key" 2>/dev/null)" != "$deps_key" ]; then
  echo "images: wheelhouse (dependencies)"
  rm -rf "$CTX/wheels/deps" && mkdir -p "$CTX/wheels/deps"
  "$PY" -m pip wheel -q --wheel-dir "$CTX/wheels/deps" -c "$CTX/constraints.txt.new" "${PROJECT_WHEEL:-.}" \
    -r "$COMPOSE/requirements-targets.txt" >"$CTX/pip.log" 2>&1 || { cat "$CTX/pip.log" >&2; exit 1; }
  rm -f "$CTX"/wheels/deps/powerpeg-*.whl
  echo "$deps_key" > "$CTX/wheels/deps/.key"
fi
mv "$CTX/constraints.txt.new" "$CTX/constraints.txt"

# the project: its sources, hashed (committed or not); installed, the wheel (reproducible: its hash is its content's)
if [ -n "$PROJECT_WHEEL" ]; then
  src_key=$(sha256sum < "$PROJECT_WHEEL" | cut -c1-16)
else
  src_key=$( (find harness targets -type f \( -name '*.py' -o -name '*.csv' \) -print0 | sort -z \
             | xargs -0 sha256sum; sha256sum pyproject.toml) | sha256sum | cut -c1-16)
fi
if [ "$(cat "$CTX/wheels/project/.key" 2>/dev/null)" != "$src_key" ]; then
  echo "images: wheelhouse (project${PROJECT_WHEEL:+: the installed $(basename "$PROJECT_WHEEL")})"
  rm -rf "$CTX/wheels/project" && mkdir -p "$CTX/wheels/project"
  if [ -n "$PROJECT_WHEEL" ]; then
    cp "$PROJECT_WHEEL" "$CTX/wheels/project/"
  else
    # POWERPEG_PURE: no C framer in the images' wheel, which must install on any platform
    POWERPEG_PURE=1 "$PY" -m pip wheel -q --no-deps --wheel-dir "$CTX/wheels/project" . >"$CTX/pip.log" 2>&1 \
      || { cat "$CTX/pip.log" >&2; exit 1; }
  fi
  echo "$src_key" > "$CTX/wheels/project/.key"
fi

# toxiproxy-server: the official image's binary where it can be pulled, else the local one
if timeout 20 docker pull -q "$TOXIPROXY_OFFICIAL" >/dev/null 2>&1; then
  cid=$(docker create "$TOXIPROXY_OFFICIAL")
  docker cp "$cid:/toxiproxy" "$CTX/toxiproxy-server.new" && docker rm "$cid" >/dev/null
  mv "$CTX/toxiproxy-server.new" "$CTX/toxiproxy-server"
else
  binary=$(command -v "$(dirname "$PY")/toxiproxy-server" toxiproxy-server 2>/dev/null | head -1 || true)
  [ -n "$binary" ] || { echo "images: no toxiproxy-server binary (make setup builds it with Go) and $TOXIPROXY_OFFICIAL cannot be pulled" >&2; exit 3; }
  cmp -s "$binary" "$CTX/toxiproxy-server" 2>/dev/null || cp -L "$binary" "$CTX/toxiproxy-server"
fi

# build IMAGE DOCKERFILE [docker build args...]: skipped when its inputs are unchanged
build() {
  local image=$1 dockerfile=$2; shift 2
  local key
  key=$( (echo "$base_id $*"; cd "$CTX" && cat "$dockerfile" entrypoint.py http-ok.sh requirements-targets.txt \
          constraints.txt wheels/deps/.key wheels/project/.key; sha256sum toxiproxy-server) | sha256sum | cut -c1-16)
  if [ "$(docker image inspect -f '{{index .Config.Labels "powerpeg.inputs"}}' "$image" 2>/dev/null)" = "$key" ]; then
    echo "images: $image up to date"
    return
  fi
  echo "images: building $image"
  docker build -q -f "$CTX/$dockerfile" --build-arg "BASE_IMAGE=$base" --label "powerpeg.inputs=$key" \
    --label powerpeg.image=1 -t "$image" "$@" "$CTX" >"$CTX/build.log" 2>&1 || { cat "$CTX/build.log" >&2; exit 1; }
}

build "${P}targets:latest" Dockerfile.targets --target targets
build "${P}router:v1" Dockerfile.targets --target router --build-arg ROUTER_VERSION=v1
build "${P}router:v2" Dockerfile.targets --target router --build-arg ROUTER_VERSION=v2
build "${P}toxiproxy:latest" Dockerfile.toxiproxy
build "${P}locust:latest" Dockerfile.locust

# powerpeg-prometheus (the bundled Prometheus control on compose, harness/controls/placement.py):
# the host's Debian binaries on the base image, in a build context of their own (the wheelhouse is
# not needed). Optional: a host without them skips it, saying so, and `--backend compose` then
# refuses the Prometheus experiments with that reason; every other image is built already.
prom_bin=$(command -v prometheus 2>/dev/null || true)
am_bin=$(command -v prometheus-alertmanager alertmanager 2>/dev/null | head -1 || true)
if [ -z "$prom_bin" ] || [ -z "$am_bin" ]; then
  echo "images: powerpeg-prometheus skipped: no prometheus and prometheus-alertmanager binaries on this host" \
       "(apt-get install prometheus prometheus-alertmanager); --backend compose refuses the Prometheus experiments" >&2
else
  pctx="$CTX/prometheus"
  mkdir -p "$pctx"
  cp "$COMPOSE/Dockerfile.prometheus" "$COMPOSE/http-ok.sh" "$pctx/" && chmod +x "$pctx/http-ok.sh"
  cmp -s "$prom_bin" "$pctx/prometheus" 2>/dev/null || cp -L "$prom_bin" "$pctx/prometheus"
  cmp -s "$am_bin" "$pctx/alertmanager" 2>/dev/null || cp -L "$am_bin" "$pctx/alertmanager"
  # Debian's Alertmanager reads its notification templates from there (no config loads without them)
  am_share=/usr/share/prometheus/alertmanager
  [ -f "$am_share/default.tmpl" ] || { echo "images: $am_share/default.tmpl missing (reinstall prometheus-alertmanager)" >&2; exit 1; }
  rm -rf "$pctx/alertmanager-share" && cp -r "$am_share" "$pctx/alertmanager-share"
  key=$( (echo "$base_id"; cd "$pctx" && sha256sum Dockerfile.prometheus http-ok.sh prometheus alertmanager \
          $(find alertmanager-share -type f | sort)) | sha256sum | cut -c1-16)
  if [ "$(docker image inspect -f '{{index .Config.Labels "powerpeg.inputs"}}' "${P}prometheus:latest" \
          2>/dev/null)" = "$key" ]; then
    echo "images: ${P}prometheus:latest up to date"
  else
    echo "images: building ${P}prometheus:latest ($("$prom_bin" --version 2>&1 | head -1 | cut -d' ' -f1-3))"
    docker build -q -f "$pctx/Dockerfile.prometheus" --build-arg "BASE_IMAGE=$base" --label "powerpeg.inputs=$key" \
      --label powerpeg.image=1 -t "${P}prometheus:latest" "$pctx" >"$CTX/build.log" 2>&1 \
      || { cat "$CTX/build.log" >&2; exit 1; }
  fi
fi
echo "images: done in $(( $(date +%s) - started )) s"

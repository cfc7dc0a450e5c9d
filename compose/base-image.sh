#!/usr/bin/env bash
# Print the base image to build on: $1 (BASE_IMAGE, an official Python slim
# image) when present or pullable, else the local fallback $2, built once with
# debootstrap + `docker import` (no registry reachable) and cached by its tag.
# Progress goes to stderr; stdout is only the image name.
set -euo pipefail
image="${1:?usage: base-image.sh BASE_IMAGE FALLBACK_TAG}"
fallback="${2:?usage: base-image.sh BASE_IMAGE FALLBACK_TAG}"

if docker image inspect "$image" >/dev/null 2>&1; then echo "$image"; exit 0; fi
if docker image inspect "$fallback" >/dev/null 2>&1; then echo "$fallback"; exit 0; fi
if timeout 60 docker pull -q "$image" >/dev/null 2>&1; then echo "$image"; exit 0; fi

echo "base-image: $image cannot be pulled; building $fallback with debootstrap (about a minute)" >&2
command -v debootstrap >/dev/null || { echo "base-image: debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }
root=$(mktemp -d /tmp/powerpeg-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
  bookworm "$root" >/tmp/powerpeg-debootstrap.log 2>&1 \
  || { echo "base-image: debootstrap failed; see /tmp/powerpeg-debootstrap.log" >&2; exit 1; }
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["python3"]' - "$fallback" >/dev/null
echo "base-image: built $fallback" >&2
echo "$fallback"

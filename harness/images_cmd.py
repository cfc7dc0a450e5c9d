"""`powerpeg images`: the compose backend's images, built by the bundled compose/build-images.sh, from a
checkout or from an installed powerpeg.

The script does the building (base image, wheelhouse, one `docker build` per image, each skipped when
its inputs are unchanged); this module only says where things are:

- a checkout (resources.checkout()): the script runs in the repository as `make images` always ran it,
  and builds the project wheel from the sources there;
- an installed powerpeg: there is no source tree, so the project wheel put into the images is the
  installed distribution itself, rebuilt from the files its RECORD lists (a wheel is a zip of exactly
  those files; pip keeps neither the wheel it installed nor an sdist, so this is the one copy of the
  installed code that is always there). It is pure (py3-none-any, no C framer: the images' wheel must
  install on any platform, as POWERPEG_PURE does for a checkout) and byte-for-byte reproducible (sorted
  entries, fixed timestamps), so its hash is the script's "unchanged" key.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from importlib.metadata import Distribution, PackageNotFoundError, distribution
from pathlib import Path, PurePosixPath
from typing import Any

from powerpeg.harness.context import powerpeg_home
from powerpeg.harness.resources import DISTRIBUTION, ResourceMissing, checkout, compose_dir

EXIT_OK = 0
EXIT_INFRA = 3
SCRIPT = "build-images.sh"
# dist-info files that describe one installation, not the distribution: a wheel does not carry them
INSTALL_ONLY = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json", "WHEEL"})
# the zip's timestamp for every entry (the earliest a zip can hold): the same files give the same bytes
EPOCH = (1980, 1, 1, 0, 0, 0)


class ImagesError(RuntimeError):
    """What `powerpeg images` cannot work without, named (exit 3)."""


@dataclass(frozen=True)
class ImagesPlan:
    """Where the build runs: the script, its working directory and the build context; ``installed``: the
    project wheel is the installed distribution's (:func:`installed_wheel`), not built from sources."""

    script: Path
    workdir: Path
    context: Path
    installed: bool

    @property
    def wheel_dir(self) -> Path:
        """Where an installed powerpeg's rebuilt wheel is written (the script copies it into the context)."""
        return self.context / "installed-wheel"

    def env(self, base: dict[str, str], python: str, wheel: Path | None) -> dict[str, str]:
        """The script's variables: the interpreter whose `pip freeze` pins the images' dependencies, the
        context and, installed, the project wheel."""
        env = {**base, "PY": python, "CTX": str(self.context)}
        env.pop("PROJECT_WHEEL", None)  # a stray one would replace a checkout's sources
        if wheel is not None:
            env["PROJECT_WHEEL"] = str(wheel)
        return env


def plan(context: Path | None = None, *, root: Path | None = None, compose: Path | None = None,
         home: Path | None = None) -> ImagesPlan:
    """The plan for this powerpeg. ``root``: the checkout (default resources.checkout(), None when installed);
    ``compose``: the bundled compose directory; ``home``: $POWERPEG_HOME. Parameters for the tests."""
    compose = compose if compose is not None else compose_dir()
    script = compose / SCRIPT
    if not script.is_file():
        raise ResourceMissing(f"images: {script} is missing (powerpeg's bundled compose files); reinstall powerpeg")
    root = root if root is not None else checkout()
    if root is not None:
        return ImagesPlan(script, root, (context or root / "build" / "compose-context").resolve(), installed=False)
    context = (context or (home if home is not None else powerpeg_home()) / "compose-context").resolve()
    return ImagesPlan(script, context, context, installed=True)


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _in_wheel(path: PurePosixPath, dist_info: str) -> bool:
    """The files of the wheel: the package (no bytecode, no compiled extension) and the dist-info's
    description of the distribution; not the console script pip generated (entry_points.txt recreates it)."""
    if path.parts[0] == dist_info:
        return path.name not in INSTALL_ONLY
    if path.parts[0] != DISTRIBUTION or "__pycache__" in path.parts:
        return False
    return path.suffix not in (".pyc", ".so", ".pyd")


def installed_wheel(out: Path, dist: Distribution | None = None, *, log: Any = None) -> Path:
    """Write the installed powerpeg's pure wheel into ``out`` and return its path (named as pip expects)."""
    try:
        dist = dist if dist is not None else distribution(DISTRIBUTION)
    except PackageNotFoundError:
        raise ImagesError(f"images: no {DISTRIBUTION} distribution is installed in {sys.executable}'s environment "
                          "(pip install powerpeg, or run from a checkout)") from None
    listed = [PurePosixPath(str(f)) for f in dist.files or []]
    dist_info = next((p.parts[0] for p in listed if p.parts[0].endswith(".dist-info")), None)
    files = sorted(p for p in listed if dist_info is not None and _in_wheel(p, dist_info))
    if dist_info is None or not any(p.parts[0] == DISTRIBUTION for p in files):
        # an editable install lists a finder, not the package: that is a checkout, which builds from its sources
        raise ImagesError(f"images: the installed {DISTRIBUTION} {dist.version} lists no package files in its "
                          "RECORD (an editable install?); run `make images` in its checkout, or reinstall the wheel")
    version = dist.version.replace("-", "_")
    name = f"{DISTRIBUTION}-{version}-py3-none-any.whl"
    wheel_meta = b"Wheel-Version: 1.0\nGenerator: powerpeg images\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    out.mkdir(parents=True, exist_ok=True)
    target = out / name
    record: list[str] = []
    tmp = target.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        def add(arcname: str, data: bytes, mode: int = 0o644) -> None:
            info = zipfile.ZipInfo(arcname, date_time=EPOCH)
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
            record.append(f"{arcname},{_record_hash(data)},{len(data)}")

        for path in files:
            source = Path(str(dist.locate_file(path)))
            try:
                data = source.read_bytes()
            except OSError as exc:
                raise ImagesError(f"images: {source} (a file of the installed {DISTRIBUTION}) cannot be read: "
                                  f"{exc.strerror}; reinstall powerpeg") from None
            add(str(path), data, 0o755 if os.access(source, os.X_OK) else 0o644)
        add(f"{dist_info}/WHEEL", wheel_meta)
        record.append(f"{dist_info}/RECORD,,")
        info = zipfile.ZipInfo(f"{dist_info}/RECORD", date_time=EPOCH)
        info.external_attr = 0o100644 << 16
        zf.writestr(info, "\n".join(record) + "\n", compress_type=zipfile.ZIP_DEFLATED)
    tmp.replace(target)
    if log is not None:
        log.info("images_project_wheel", wheel=str(target), files=len(files), version=dist.version)
    return target


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--context", type=Path, default=None, metavar="DIR",
                        help="where the build context and wheelhouse are kept (default: build/compose-context in a "
                             "checkout, $POWERPEG_HOME/compose-context for an installed powerpeg)")


def cmd_images(args: argparse.Namespace, *, log: Any) -> int:
    try:
        return _build(args.context, log)
    except ImagesError as exc:
        print(f"powerpeg: error: {exc}", file=sys.stderr)
        return EXIT_INFRA


def _build(context: Path | None, log: Any) -> int:
    if shutil.which("docker") is None:
        raise ImagesError("images: no docker command on PATH (\"$(powerpeg where compose)/ensure-docker.sh\" "
                          "installs and starts a Docker engine on Debian)")
    the_plan = plan(context)
    wheel = None
    if the_plan.installed:
        if importlib.util.find_spec("pip") is None:
            raise ImagesError(f"images: the dependencies' wheelhouse is built with pip, and {sys.executable}'s "
                              "environment has none (python -m ensurepip)")
        shutil.rmtree(the_plan.wheel_dir, ignore_errors=True)
        wheel = installed_wheel(the_plan.wheel_dir, log=log)
    the_plan.workdir.mkdir(parents=True, exist_ok=True)
    log.info("images_build", script=str(the_plan.script), context=str(the_plan.context), installed=the_plan.installed)
    # the script reports each image and names what is missing itself (no Docker engine: its exit 3)
    proc = subprocess.run(["bash", str(the_plan.script)], cwd=the_plan.workdir, check=False,
                          env=the_plan.env(dict(os.environ), sys.executable, wheel))
    return EXIT_OK if proc.returncode == 0 else EXIT_INFRA

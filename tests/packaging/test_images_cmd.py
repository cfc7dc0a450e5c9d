"""harness/images_cmd.py: `powerpeg images` finds its build script and context from a checkout or an installed
powerpeg, and turns the installed distribution into the images' pure wheel. No Docker here: .ci/wheel-check.sh
runs `powerpeg images` from an installed wheel when an engine answers."""
from __future__ import annotations

import argparse
import base64
import hashlib
import subprocess
import sys
import zipfile
from importlib.metadata import PathDistribution
from pathlib import Path

import pytest

from powerpeg.harness import images_cmd
from powerpeg.harness.images_cmd import ImagesError, installed_wheel, plan
from powerpeg.harness.resources import ResourceMissing

ROOT = Path(__file__).resolve().parents[2]
DIST_INFO = "powerpeg-0.1.0.dist-info"
# what pip installs from powerpeg's wheel, in miniature: the package, its bytecode and C framer, the
# dist-info (with the files that describe one installation) and the console script outside the package
INSTALLED = {
    "powerpeg/__init__.py": b"",
    "powerpeg/harness/cli.py": b"def main():\n    return 0\n",
    "powerpeg/harness/_compose/build-images.sh": b"#!/usr/bin/env bash\n",
    "powerpeg/harness/__pycache__/cli.cpython-311.pyc": b"\x00bytecode",
    "powerpeg/targets/fix/_speedups.cpython-311-x86_64-linux-gnu.so": b"\x7fELF",
    f"{DIST_INFO}/METADATA": b"Metadata-Version: 2.4\nName: powerpeg\nVersion: 0.1.0\nRequires-Dist: aiohttp>=3.9\n",
    f"{DIST_INFO}/entry_points.txt": b"[console_scripts]\npowerpeg = powerpeg.harness.cli:main\n",
    f"{DIST_INFO}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp311-cp311-linux_x86_64\n",
    f"{DIST_INFO}/INSTALLER": b"pip\n",
    f"{DIST_INFO}/direct_url.json": b"{}",
    "../../../bin/powerpeg": b"#!/venv/bin/python\n",
}


def _install(site: Path, files: dict[str, bytes], *, listed: list[str] | None = None) -> PathDistribution:
    """A site-packages with ``files`` and a RECORD listing ``listed`` (default: all of them)."""
    for name, data in files.items():
        path = site / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    script = site / "powerpeg/harness/_compose/build-images.sh"
    if script.exists():
        script.chmod(0o755)  # pip keeps the mode of the bundled scripts; the wheel must too
    record = [f"{name},," for name in (listed if listed is not None else files)] + [f"{DIST_INFO}/RECORD,,"]
    (site / DIST_INFO).mkdir(parents=True, exist_ok=True)
    (site / DIST_INFO / "RECORD").write_text("\n".join(record) + "\n")
    return PathDistribution(site / DIST_INFO)


def _compose(tmp_path: Path) -> Path:
    compose = tmp_path / "compose"
    compose.mkdir()
    (compose / "build-images.sh").write_text("#!/usr/bin/env bash\n")
    return compose


def test_from_this_checkout_the_script_runs_in_the_repository_as_make_images_ran_it() -> None:
    """In a checkout: the repository's compose/build-images.sh, run in the repository, context build/compose-context."""
    got = plan()
    assert (ROOT / "compose" / "build-images.sh", ROOT, ROOT / "build" / "compose-context", False) == \
        (got.script, got.workdir, got.context, got.installed)


def test_installed_the_context_is_under_powerpeg_home(tmp_path, monkeypatch) -> None:
    """Installed (no checkout around the package): the script from the package, the context under $POWERPEG_HOME."""
    monkeypatch.setattr(images_cmd, "checkout", lambda: None)
    compose = _compose(tmp_path)
    got = plan(compose=compose, home=tmp_path / "home")
    context = (tmp_path / "home" / "compose-context").resolve()
    assert (compose / "build-images.sh", context, context, True) == \
        (got.script, got.workdir, got.context, got.installed)


def test_an_explicit_context_wins(tmp_path, monkeypatch) -> None:
    """`--context DIR` is where the wheelhouse goes, installed or not."""
    monkeypatch.setattr(images_cmd, "checkout", lambda: None)
    got = plan(tmp_path / "ctx", compose=_compose(tmp_path), home=tmp_path / "home")
    assert (tmp_path / "ctx").resolve() == got.context


def test_a_missing_build_script_is_named(tmp_path) -> None:
    """A package without its compose files is an error naming the file, not a bash traceback."""
    with pytest.raises(ResourceMissing) as caught:
        plan(compose=tmp_path)
    assert f"images: {tmp_path / 'build-images.sh'} is missing" in str(caught.value)


def test_the_script_gets_the_wheel_only_when_installed(tmp_path) -> None:
    """A checkout's script builds from its sources: a PROJECT_WHEEL left in the environment is not passed on."""
    checkout = plan(root=ROOT)
    installed = images_cmd.ImagesPlan(tmp_path / "s.sh", tmp_path, tmp_path, installed=True)
    stray = {"PROJECT_WHEEL": "/elsewhere.whl", "HOME": "/h"}
    assert ("PROJECT_WHEEL" not in checkout.env(stray, "/py", None),
            {"PY": "/py", "CTX": str(tmp_path), "PROJECT_WHEEL": "/w.whl", "HOME": "/h"}) == \
        (True, installed.env(stray, "/py", Path("/w.whl")))


def test_the_installed_distribution_becomes_a_pure_wheel(tmp_path) -> None:
    """The package's sources and data and its metadata; no bytecode, no C framer, no per-install files."""
    wheel = installed_wheel(tmp_path / "out", _install(tmp_path / "site", INSTALLED))
    with zipfile.ZipFile(wheel) as zf:
        names = sorted(zf.namelist())
        wheel_meta = zf.read(f"{DIST_INFO}/WHEEL").decode()
        cli = zf.read("powerpeg/harness/cli.py")
        script_mode = zf.getinfo("powerpeg/harness/_compose/build-images.sh").external_attr >> 16
    assert "powerpeg-0.1.0-py3-none-any.whl" == wheel.name
    assert sorted(["powerpeg/__init__.py", "powerpeg/harness/cli.py", "powerpeg/harness/_compose/build-images.sh",
                   f"{DIST_INFO}/METADATA", f"{DIST_INFO}/entry_points.txt", f"{DIST_INFO}/WHEEL",
                   f"{DIST_INFO}/RECORD"]) == names
    assert ("Root-Is-Purelib: true", "Tag: py3-none-any") == tuple(
        line for line in wheel_meta.splitlines() if line.startswith(("Root-Is", "Tag")))
    assert (INSTALLED["powerpeg/harness/cli.py"], 0o755) == (cli, script_mode & 0o777)


def test_the_record_hashes_every_file(tmp_path) -> None:
    """RECORD lists each file with its sha256 and size, as pip checks on install."""
    wheel = installed_wheel(tmp_path / "out", _install(tmp_path / "site", INSTALLED))
    with zipfile.ZipFile(wheel) as zf:
        rows = [line.split(",") for line in zf.read(f"{DIST_INFO}/RECORD").decode().splitlines()]
        wrong = [name for name, digest, size in rows if digest and (
            digest != "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(zf.read(name)).digest()).rstrip(b"=").decode()
            or int(size) != len(zf.read(name)))]
    assert ([], sorted(set(zf.namelist()))) == (wrong, sorted(name for name, _, _ in rows))


def test_the_same_installation_gives_the_same_bytes(tmp_path) -> None:
    """Reproducible: the wheel's hash is the build script's "unchanged" key, so a rebuild must not change it."""
    dist = _install(tmp_path / "site", INSTALLED)
    first = installed_wheel(tmp_path / "a", dist).read_bytes()
    assert first == installed_wheel(tmp_path / "b", dist).read_bytes()


def test_pip_installs_the_rebuilt_wheel(tmp_path) -> None:
    """The wheel is one pip accepts (name, WHEEL, RECORD), with its console script recreated from entry_points."""
    wheel = installed_wheel(tmp_path / "out", _install(tmp_path / "site", INSTALLED))
    target = tmp_path / "target"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                           "--target", str(target), str(wheel)], capture_output=True, text=True, timeout=120)
    assert (0, INSTALLED["powerpeg/harness/cli.py"], True) == (
        proc.returncode, (target / "powerpeg/harness/cli.py").read_bytes(), (target / "bin" / "powerpeg").is_file()), \
        proc.stderr


def test_an_editable_install_is_refused_with_the_way_out(tmp_path) -> None:
    """An editable install lists a finder, not the package: it is a checkout, `make images` builds it."""
    files = {"__editable__.powerpeg-0.1.0.pth": b"/src\n", f"{DIST_INFO}/METADATA": INSTALLED[f"{DIST_INFO}/METADATA"]}
    with pytest.raises(ImagesError) as caught:
        installed_wheel(tmp_path / "out", _install(tmp_path / "site", files))
    assert "lists no package files in its RECORD (an editable install?); run `make images` in its checkout" \
        in str(caught.value)


def test_a_file_missing_from_the_installation_is_named(tmp_path) -> None:
    """A RECORD entry whose file is gone: the error names it and says to reinstall."""
    files = {k: v for k, v in INSTALLED.items() if k != "powerpeg/harness/cli.py"}
    site = tmp_path / "site"
    with pytest.raises(ImagesError) as caught:
        installed_wheel(tmp_path / "out", _install(site, files, listed=list(INSTALLED)))
    assert f"images: {site / 'powerpeg/harness/cli.py'} (a file of the installed powerpeg) cannot be read" \
        in str(caught.value)


def test_no_docker_command_is_exit_3_with_the_hint(tmp_path, monkeypatch, capsys) -> None:
    """Without a docker command nothing is built and the error says how to get an engine."""
    monkeypatch.setenv("PATH", str(tmp_path))
    code = images_cmd.cmd_images(argparse.Namespace(context=tmp_path / "ctx"), log=None)
    assert (3, False) == (code, (tmp_path / "ctx").exists())
    assert "images: no docker command on PATH" in capsys.readouterr().err

"""A PEP 517 build backend for nexus-sdk, standard library only.

pip builds a project in an isolated environment holding the backend the project names; with setuptools
there, `pip install --no-index sdk/python` fails on a machine without an index. This backend ships inside
the project (`backend-path`) and needs nothing: it writes the wheel (and the sdist) with zipfile and
tarfile. It reads the `[project]` table of pyproject.toml, which keeps to a small TOML subset (strings and
lists of strings) that `_read_project` parses, so it runs on Python 3.10, which has no tomllib.

The version is dynamic: VERSION at the repository root is the single source of Nexus's version, and an sdist,
which has no repository around it, carries it in PKG-INFO. Every wheel and sdist gets a nexus_sdk/_version.py
that states the version outright, in place of the checkout's, which reads VERSION.
"""
from __future__ import annotations

import base64
import hashlib
import io
import re
import tarfile
import zipfile
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "nexus_sdk"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same sources give the same wheel


def get_requires_for_build_wheel(config_settings: Optional[dict[str, Any]] = None) -> list[str]:
    return []


def get_requires_for_build_editable(config_settings: Optional[dict[str, Any]] = None) -> list[str]:
    return []


def get_requires_for_build_sdist(config_settings: Optional[dict[str, Any]] = None) -> list[str]:
    return []


def build_wheel(wheel_directory: str, config_settings: Optional[dict[str, Any]] = None, metadata_directory: Optional[str] = None) -> str:
    files = {path.relative_to(ROOT).as_posix(): _shipped(path) for path in _package_files()}
    return _write_wheel(Path(wheel_directory), files)


def build_editable(wheel_directory: str, config_settings: Optional[dict[str, Any]] = None, metadata_directory: Optional[str] = None) -> str:
    # A .pth line puts the source directory on sys.path: edits take effect without reinstalling.
    return _write_wheel(Path(wheel_directory), {f"__editable__.{PACKAGE}.pth": f"{ROOT}\n".encode("utf-8")})


def build_sdist(sdist_directory: str, config_settings: Optional[dict[str, Any]] = None) -> str:
    project = _read_project()
    base = f"{_dist_name(project)}-{project['version']}"
    sources = [ROOT / "pyproject.toml", ROOT / "README.md", *sorted((ROOT / "build_backend").glob("*.py")), *_package_files()]
    name = f"{base}.tar.gz"
    with tarfile.open(Path(sdist_directory) / name, "w:gz", format=tarfile.PAX_FORMAT) as archive:
        for path in sources:
            _add_to_tar(archive, f"{base}/{path.relative_to(ROOT).as_posix()}", _shipped(path))
        _add_to_tar(archive, f"{base}/PKG-INFO", _metadata(project))
    return name


def version() -> str:
    """The version to build: PKG-INFO's in an unpacked sdist, else VERSION at the repository root."""
    pkg_info = ROOT / "PKG-INFO"
    if pkg_info.is_file():
        for line in pkg_info.read_text(encoding="utf-8").splitlines():
            if line.startswith("Version: "):
                return line[len("Version: "):].strip()
        raise ValueError("PKG-INFO has no Version line")
    repository_version = ROOT.parent.parent / "VERSION"
    if not repository_version.is_file():
        raise FileNotFoundError(f"{repository_version} is missing: build from the Nexus repository or from an sdist of it")
    return repository_version.read_text(encoding="utf-8").strip()


def _shipped(path: Path) -> bytes:
    """A file as the wheel and sdist carry it: _version.py with the version written out, the rest as it is."""
    if path == ROOT / PACKAGE / "_version.py":
        return f'"""The package\'s version, written by the build backend from Nexus\'s VERSION."""\n__version__ = "{version()}"\n'.encode("utf-8")
    return path.read_bytes()


def _package_files() -> list[Path]:
    return sorted(p for p in (ROOT / PACKAGE).rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".py", ".typed"))


def _write_wheel(directory: Path, files: dict[str, bytes]) -> str:
    project = _read_project()
    dist = f"{_dist_name(project)}-{project['version']}"
    info = f"{dist}.dist-info"
    files = dict(files)
    files[f"{info}/METADATA"] = _metadata(project)
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: nexus_sdk_build\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = [f"{name},sha256={_digest(data)},{len(data)}" for name, data in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode("utf-8")
    name = f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(directory / name, "w", compression=zipfile.ZIP_DEFLATED) as wheel:
        for path, data in files.items():
            entry = zipfile.ZipInfo(path, date_time=_EPOCH)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(entry, data)
    return name


def _metadata(project: dict[str, Any]) -> bytes:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {project['version']}",
        f"Summary: {project['description']}",
        f"License: {project['license']}",
        f"Requires-Python: {project['requires-python']}",
        *(f"Classifier: {c}" for c in project.get("classifiers", [])),
        *(f"Requires-Dist: {d}" for d in project.get("dependencies", [])),
        "Description-Content-Type: text/markdown",
    ]
    return ("\n".join(lines) + "\n\n" + (ROOT / project["readme"]).read_text(encoding="utf-8")).encode("utf-8")


def _read_project() -> dict[str, Any]:
    """The `[project]` table: `key = "string"` and `key = [ "string", ... ]` (over several lines too)."""
    project: dict[str, Any] = {}
    table = ""
    pending: Optional[tuple[str, str]] = None
    for raw in (ROOT / "pyproject.toml").read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if pending is not None:
            pending = (pending[0], pending[1] + line)
            if line.endswith("]"):
                project[pending[0]] = re.findall(r'"((?:[^"\\]|\\.)*)"', pending[1])
                pending = None
            continue
        if header := re.fullmatch(r"\[([\w.-]+)\]", line):
            table = header.group(1)
        elif table == "project" and (item := re.fullmatch(r'([\w-]+)\s*=\s*(.+)', line)):
            key, value = item.groups()
            if value.startswith('"'):
                project[key] = value[1:-1]
            elif value.startswith("[") and value.endswith("]"):
                project[key] = re.findall(r'"((?:[^"\\]|\\.)*)"', value)
            elif value.startswith("["):
                pending = (key, value)
            else:
                raise ValueError(f"pyproject.toml: [project] {key} is not a string or a list of strings")
    if "version" in project.get("dynamic", []):
        project["version"] = version()
    return project


def _dist_name(project: dict[str, Any]) -> str:
    return re.sub(r"[-_.]+", "_", project["name"]).lower()


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")


def _add_to_tar(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    entry = tarfile.TarInfo(name)
    entry.size = len(data)
    entry.mode = 0o644
    archive.addfile(entry, io.BytesIO(data))

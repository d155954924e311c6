"""The wheel the in-tree build backend writes, and the standard-library-only promise (unit tests)."""
from __future__ import annotations

import checkout  # noqa: F401  (first: makes nexus_sdk importable from the repository root)
import ast
import base64
import hashlib
import importlib.util
import sys
import tarfile
import tempfile
import unittest
import zipfile
from pathlib import Path

SDK = Path(__file__).resolve().parent.parent
# Nexus's version, from VERSION at the repository root (absent in an installed copy of the tests).
VERSION = (SDK.parent.parent / "VERSION").read_text(encoding="utf-8").strip() if (SDK.parent.parent / "VERSION").is_file() else ""
PACKAGE = SDK / "nexus_sdk"
# The adapters exist to use these; importing nexus_sdk never imports them.
ADAPTERS = {"requests_auth.py": "requests", "httpx_auth.py": "httpx"}


def load_backend():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("nexus_sdk_build", SDK / "build_backend" / "nexus_sdk_build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class SourceTree(unittest.TestCase):
    def setUp(self) -> None:
        if not (SDK / "build_backend").is_dir():
            self.skipTest("the source tree is not here (an installed copy of the tests)")

    def test_the_wheel_holds_the_package_typed_with_honest_metadata_and_record(self) -> None:
        backend = load_backend()
        self.assertEqual(backend.get_requires_for_build_wheel(), [])
        with tempfile.TemporaryDirectory() as out:
            name = backend.build_wheel(out)
            self.assertEqual(name, f"nexus_sdk-{VERSION}-py3-none-any.whl")
            with zipfile.ZipFile(Path(out) / name) as wheel:
                names = set(wheel.namelist())
                expected = {f"nexus_sdk/{p.name}" for p in PACKAGE.iterdir() if p.suffix in (".py", ".typed")}
                self.assertEqual({n for n in names if n.startswith("nexus_sdk/")}, expected)
                self.assertIn("nexus_sdk/py.typed", names)
                metadata = wheel.read(f"nexus_sdk-{VERSION}.dist-info/METADATA").decode()
                self.assertIn(f"Version: {VERSION}\n", metadata)
                # The installed copy states its version; the checkout's _version.py reads VERSION instead.
                self.assertIn(f'__version__ = "{VERSION}"', wheel.read("nexus_sdk/_version.py").decode())
                self.assertIn("Name: nexus-sdk\n", metadata)
                self.assertIn("Requires-Python: >=3.10\n", metadata)
                self.assertNotIn("Requires-Dist", metadata)
                for line in wheel.read(f"nexus_sdk-{VERSION}.dist-info/RECORD").decode().splitlines():
                    path, digest, size = line.split(",")
                    if digest:
                        data = wheel.read(path)
                        self.assertEqual(digest, "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode(), path)
                        self.assertEqual(int(size), len(data))
            sdist = backend.build_sdist(out)
            self.assertEqual(sdist, f"nexus_sdk-{VERSION}.tar.gz")

    def test_an_sdist_builds_the_same_version_without_the_repository_around_it(self) -> None:
        backend = load_backend()
        with tempfile.TemporaryDirectory() as out:
            sdist = backend.build_sdist(out)
            with tarfile.open(Path(out) / sdist) as archive:
                if hasattr(tarfile, "data_filter"):  # extraction filters: 3.12, and security releases of 3.10 and 3.11
                    archive.extractall(out, filter="data")
                else:
                    archive.extractall(out)
            unpacked = Path(out) / sdist[: -len(".tar.gz")]
            self.assertIn(f"Version: {VERSION}\n", (unpacked / "PKG-INFO").read_text())
            # The unpacked sdist's own backend reads PKG-INFO: there is no VERSION two folders up.
            self.assertFalse((unpacked.parent.parent / "VERSION").exists())
            spec = importlib.util.spec_from_file_location("nexus_sdk_build_from_sdist", unpacked / "build_backend" / "nexus_sdk_build.py")
            assert spec is not None and spec.loader is not None
            from_sdist = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(from_sdist)
            wheels = Path(out) / "wheels"
            wheels.mkdir()
            self.assertEqual(from_sdist.build_wheel(str(wheels)), f"nexus_sdk-{VERSION}-py3-none-any.whl")

    def test_the_backend_reads_pyproject_as_tomllib_does(self) -> None:
        try:
            import tomllib
        except ImportError:
            self.skipTest("tomllib arrived in Python 3.11")
        with open(SDK / "pyproject.toml", "rb") as f:
            project = tomllib.load(f)["project"]
        ours = load_backend()._read_project()
        self.assertEqual(project.get("dynamic"), ["version"])
        self.assertEqual(ours.pop("version"), VERSION)  # dynamic: the backend adds it from VERSION
        self.assertEqual({k: v for k, v in project.items() if isinstance(v, (str, list))}, ours)


class StandardLibraryOnly(unittest.TestCase):
    def test_the_package_imports_nothing_outside_the_standard_library(self) -> None:
        stdlib = set(getattr(sys, "stdlib_module_names", ()))
        if not stdlib:
            self.skipTest("sys.stdlib_module_names arrived in Python 3.10")
        for path in sorted(PACKAGE.glob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
                for name in names:
                    top = name.split(".")[0]
                    with self.subTest(file=path.name, module=name):
                        self.assertTrue(top in stdlib or top == "nexus_sdk" or ADAPTERS.get(path.name) == top or (path.name == "httpx_auth.py" and top == "anyio"),
                                        f"{path.name} imports {name}")

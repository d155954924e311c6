"""The wheel the in-tree build backend writes, and the standard-library-only promise (unit tests)."""
from __future__ import annotations

import checkout  # noqa: F401  (first: makes nexus_sdk importable from the repository root)
import ast
import base64
import hashlib
import importlib.util
import sys
import tempfile
import unittest
import zipfile
from pathlib import Path

SDK = Path(__file__).resolve().parent.parent
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
            self.assertEqual(name, "nexus_sdk-0.1.0-py3-none-any.whl")
            with zipfile.ZipFile(Path(out) / name) as wheel:
                names = set(wheel.namelist())
                expected = {f"nexus_sdk/{p.name}" for p in PACKAGE.iterdir() if p.suffix in (".py", ".typed")}
                self.assertEqual({n for n in names if n.startswith("nexus_sdk/")}, expected)
                self.assertIn("nexus_sdk/py.typed", names)
                metadata = wheel.read("nexus_sdk-0.1.0.dist-info/METADATA").decode()
                self.assertIn("Name: nexus-sdk\n", metadata)
                self.assertIn("Requires-Python: >=3.10\n", metadata)
                self.assertNotIn("Requires-Dist", metadata)
                for line in wheel.read("nexus_sdk-0.1.0.dist-info/RECORD").decode().splitlines():
                    path, digest, size = line.split(",")
                    if digest:
                        data = wheel.read(path)
                        self.assertEqual(digest, "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode(), path)
                        self.assertEqual(int(size), len(data))
            sdist = backend.build_sdist(out)
            self.assertEqual(sdist, "nexus_sdk-0.1.0.tar.gz")

    def test_the_backend_reads_pyproject_as_tomllib_does(self) -> None:
        try:
            import tomllib
        except ImportError:
            self.skipTest("tomllib arrived in Python 3.11")
        with open(SDK / "pyproject.toml", "rb") as f:
            project = tomllib.load(f)["project"]
        ours = load_backend()._read_project()
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

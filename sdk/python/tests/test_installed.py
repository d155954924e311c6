"""In the zero-dependency run (NEXUS_TEST_EXPECT_INSTALLED names the virtual environment), these tests are
running against the installed package, in an environment that has nothing else."""
from __future__ import annotations

import checkout  # noqa: F401  (first: makes nexus_sdk importable from the repository root)
import importlib.util
import os
import sys
import unittest
from pathlib import Path

import nexus_sdk


class Installed(unittest.TestCase):
    def setUp(self) -> None:
        if "NEXUS_TEST_EXPECT_INSTALLED" not in os.environ:
            self.skipTest("not the zero-dependency run")
        self.venv = Path(os.environ["NEXUS_TEST_EXPECT_INSTALLED"]).resolve()

    def test_the_package_comes_from_the_virtual_environment_site_packages(self) -> None:
        self.assertNotEqual(sys.prefix, sys.base_prefix, "running inside a virtual environment")
        self.assertEqual(Path(sys.prefix).resolve(), self.venv)
        location = Path(nexus_sdk.__file__).resolve()
        self.assertTrue(location.is_relative_to(self.venv), location)
        self.assertIn("site-packages", location.parts)
        self.assertTrue((location.parent / "py.typed").is_file())

    def test_no_third_party_package_is_importable(self) -> None:
        for name in ("requests", "httpx", "urllib3", "botocore", "certifi"):
            self.assertIsNone(importlib.util.find_spec(name), f"{name} is importable: the environment has site packages")

"""docs/agents-python.md's complete agent runs as written, with the Python running these tests (in the
zero-dependency run: the one in the virtual environment where `pip install --no-index sdk/python` put it)."""
from __future__ import annotations

import checkout  # noqa: F401  (first: makes nexus_sdk importable from the repository root)
import os
import re
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import nexus_sdk
from live import live

PAGE = Path(__file__).resolve().parent.parent.parent.parent / "docs" / "agents-python.md"


def docs_block(name: str) -> str:
    match = re.search(rf"<!-- docs-test: {name} -->\s*```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)
    assert match is not None, f"{PAGE} has no python block marked docs-test: {name}"
    return match.group(1)


class AgentsPython(unittest.TestCase):
    def test_the_complete_agent_connects_alice_and_calls_the_sandbox_api(self) -> None:
        if not PAGE.is_file():
            self.skipTest("docs/ is not here")
        stack = live()
        env = {
            "PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", ""),
            "NEXUS_GATEWAY_URL": stack.gateway_url, "NEXUS_AGENT_KEY": stack.agent_key, "SANDBOX_API": stack.sandbox_api,
            # Where this run's nexus_sdk lives: the source tree, or the virtual environment's site-packages.
            "PYTHONPATH": str(Path(nexus_sdk.__file__).parent.parent),
        }
        with tempfile.TemporaryDirectory() as cwd:
            done = subprocess.run([sys.executable, "-c", docs_block("python-agent")], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stderr, "")
        lines = done.stdout.splitlines()
        self.assertEqual(len(lines), 3, done.stdout)
        self.assertRegex(lines[0], r"^ask alice to open http://[^ ]+/auth/capture$")
        self.assertEqual(lines[1:], ["active", "200 {'user': 'sandbox-user', 'plan': 'free'}"])

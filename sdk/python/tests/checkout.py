"""Lets the tests run from the repository root (`python3 -m unittest discover -s sdk/python/tests`): when no
nexus_sdk is importable (not installed, and not in the current directory), the checkout's sdk/python is."""
import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("nexus_sdk") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

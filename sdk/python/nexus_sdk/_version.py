"""The package's version.

In the repository it is read from VERSION at the root, the single source of Nexus's version (an editable
install reads it there too). The build backend (build_backend/nexus_sdk_build.py) writes the version into
this file in every wheel and sdist it builds, so an installed copy needs nothing outside itself.
"""
from pathlib import Path

__version__ = (Path(__file__).resolve().parents[3] / "VERSION").read_text(encoding="utf-8").strip()

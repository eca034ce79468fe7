"""Build hook of gpu_alvh (all other metadata is in pyproject.toml).

``build_py`` writes ``gpu_alvh/_build_info.py`` into the *built* package (never into the source
tree) with the git revision of the tree it was built from, so that stores written by a
non-editable install (``pip install .``, a wheel) record where their code came from.  An
editable install has no such file: it reads the revision from git at run time
(:func:`gpu_alvh.results.git_revision`).
"""

import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def source_revision(root: Path = ROOT) -> str | None:
    """``HEAD`` of the git checkout at ``root`` (``-dirty`` with modified tracked files), or None."""
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=30).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True,
                               timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (rev + ("-dirty" if dirty else "")) if rev else None


class BuildPyWithRevision(build_py):
    """``build_py`` that also writes ``gpu_alvh/_build_info.py`` (``GIT_REVISION``) into the build."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "gpu_alvh" / "_build_info.py"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text('"""Written by setup.py when this package was built (not part of the source tree)."""\n\n'
                          f"GIT_REVISION = {source_revision()!r}\n", encoding="utf-8")


if __name__ == "__main__":
    setup(cmdclass={"build_py": BuildPyWithRevision})

"""Which code wrote something: the synthvid release plus the git commit of the checkout it runs from.
Cards record it (`code_version`), and both commands print it (`--version`)."""

from __future__ import annotations

import functools
import os
import re
import subprocess

import synthvid


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """Package version plus the git commit when synthvid runs from its own checkout (an editable install);
    the release version alone otherwise: an installed copy inside some other repository (a virtualenv in
    a project's folder, say) must not record that repository's commit."""
    root = _own_checkout()
    if root is None:
        return synthvid.__version__
    try:
        sha = subprocess.run(["git", "-C", root, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{synthvid.__version__}+g{sha}" if sha else synthvid.__version__


_NAMED_SYNTHVID = re.compile(r'(?m)^\[project\][^\[]*?^name\s*=\s*["\']synthvid["\']')


def _own_checkout() -> str | None:
    """The root of the git checkout of synthvid this module runs from, or None: this package folder's parent
    holds synthvid's own pyproject.toml and is the top of a git work tree."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # <checkout>/manifests/versions.py
    try:
        with open(os.path.join(root, "pyproject.toml"), encoding="utf-8") as f:
            if not _NAMED_SYNTHVID.search(f.read()):
                return None
        top = subprocess.run(["git", "-C", root, "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                             timeout=5).stdout.strip()
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    return root if top and os.path.samefile(top, root) else None

"""Starting Python child processes that import nothing from the working folder.

``python -c CODE`` puts the working folder first on ``sys.path``, so a
``queue.py`` left beside a shared session would run inside voicecoach's
children. Every child voicecoach starts goes through here:

- ``python_command(code)``: a command line for our own children (the speech
  worker). ``-I`` (isolated mode) keeps the working folder, the user's site
  folder and every ``PYTHON*`` variable out; the child gets this process's
  import path instead, inside the code itself. Other variables
  (``ESPEAK_DATA_PATH``, ``VOICECOACH_*``) still reach it.
- ``safe_import_path()``: around starting ``multiprocessing`` spawn children
  (``export --jobs``), which start as ``python -c`` too and whose command
  line we do not write: ``PYTHONSAFEPATH=1`` keeps the working folder off
  their path until ``multiprocessing`` gives them this process's path.

The export's second process (``offload``) is a ``fork``: it imports nothing
new from a fresh path, so it needs neither.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


def python_command(code: str) -> list[str]:
    """``[python, -I, -c, ...]`` running ``code`` with this process's import path."""
    path = [os.path.abspath(p) for p in sys.path if p]
    return [sys.executable, "-I", "-c", f"import sys; sys.path[:0] = {path!r}; {code}"]


@contextlib.contextmanager
def safe_import_path() -> Iterator[None]:
    """While inside, Python children started by ``multiprocessing`` skip the working folder."""
    old = os.environ.get("PYTHONSAFEPATH")
    os.environ["PYTHONSAFEPATH"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PYTHONSAFEPATH", None)
        else:
            os.environ["PYTHONSAFEPATH"] = old

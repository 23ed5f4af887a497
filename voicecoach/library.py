"""The built-in session library: names, paths, and new scripts from the template.

A built-in session is ``<library>/<name>.md``; files under ``parts/`` are
pieces for ``[include]`` and are not sessions of their own.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

from voicecoach.errors import LibraryError, UsageError
from voicecoach.storage.resources import builtin_scripts_dir


def builtin_names() -> list[str]:
    """Names of the built-in sessions, sorted."""
    folder = builtin_scripts_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.md") if p.is_file())


def resolve_script(name_or_path: str | os.PathLike) -> Path:
    """A path to an existing script file, or the built-in session of that name."""
    text = os.fspath(name_or_path)
    if not text.strip():
        raise UsageError(
            "no script given: name a built-in session (see `voicecoach list`) or a script file"
        )
    path = Path(text).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        raise LibraryError(f"{text} is a folder, not a session script")
    looks_like_path = os.sep in text or "/" in text or text.endswith(".md")
    if not looks_like_path:
        candidate = builtin_scripts_dir() / f"{text}.md"
        if candidate.is_file():
            return candidate
    if not looks_like_path:
        matches = _sessions_about(text)
        if len(matches) == 1:
            return builtin_scripts_dir() / f"{matches[0][0]}.md"
        if matches:
            listed = ", ".join(f"{name} ({title})" for name, title in matches)
            raise LibraryError(f"{text!r} matches several built-in sessions: {listed}; name one")
    names = builtin_names()
    close = difflib.get_close_matches(Path(text).stem, names, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    if looks_like_path:
        raise LibraryError(f"no such script file: {text}{hint}")
    raise LibraryError(f"no built-in session or file named {text!r}{hint} (see `voicecoach list`)")


def _sessions_about(query: str) -> list[tuple[str, str]]:
    """Built-in sessions whose title or muscles hold every word of ``query`` (``neck``)."""
    from voicecoach.errors import ScriptError
    from voicecoach.language.parser import parse_file

    words = query.lower().split()
    found = []
    for name in builtin_names():
        try:
            settings = parse_file(builtin_scripts_dir() / f"{name}.md").settings
        except ScriptError:
            continue
        about = f"{settings.title} {settings.muscles or ''}".lower()
        if words and all(re.search(rf"\b{re.escape(w)}", about) for w in words):
            found.append((name, settings.title))
    return found


_TEMPLATE = Path(__file__).resolve().parent / "templates" / "new_session.md"


def write_new_script(name: str, folder: Path | None = None, *, force: bool = False) -> Path:
    """Write a commented starting script ``NAME.md``; refuse to overwrite unless ``force``."""
    stem = name[:-3] if name.endswith(".md") else name
    target_name = Path(stem).name
    if not target_name or target_name.startswith("."):
        raise UsageError(f"not a usable script name: {name!r}")
    target = (folder or Path.cwd()) / Path(stem).parent / f"{target_name}.md"
    if target.exists() and not force:
        raise LibraryError(f"{target} already exists; choose another name or pass --force")
    title = target_name.replace("-", " ").replace("_", " ").strip().capitalize() or "My session"
    text = _TEMPLATE.read_text(encoding="utf-8").replace("{{title}}", title)
    from voicecoach.storage.atomic import replacing

    try:
        # a new file of its own (O_EXCL), never one a predictable name could point elsewhere
        with replacing(target, durable=False, private=False) as f:
            f.write(text.replace("\n", os.linesep).encode("utf-8"))  # as a text-mode write
    except OSError as e:
        raise LibraryError(f"cannot write {target}: {e.strerror or e}") from e
    return target

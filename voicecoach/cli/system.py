"""The machine's side: sound ``devices``, speech ``voices``, the ``cache``."""

from __future__ import annotations

import json

import click

from voicecoach.cli.common import (
    ENGINE_CHOICE,
    _echo,
    cli,
)


@cli.command()
def devices() -> None:
    """List the sound output devices."""
    from voicecoach.playback.devices import list_devices

    devs = list_devices()
    if not devs:
        _echo("no output devices found (use `voicecoach export` to write a file instead)")
        return
    for d in devs:
        mark = "*" if d.get("default") else " "
        _echo(f"{mark} {d['index']:>3}  {d['name']}  ({d['channels']} ch)")


# ---- voices, cache, list, new -----------------------------------------------


@cli.command()
@click.option("--engine", type=ENGINE_CHOICE, help="Only this engine's voices.")
@click.option("--json", "as_json", is_flag=True)
def voices(engine, as_json) -> None:
    """List the voices of the speech engines."""
    from voicecoach.speech import get_engine
    from voicecoach.speech.piper import is_installed as piper_installed

    names = [engine] if engine else ["system"] + (["piper"] if piper_installed() else [])
    rows = []
    for name in names:
        eng = get_engine(name)
        try:
            rows.extend(eng.voices())
        finally:
            eng.close()
    if as_json:
        click.echo(json.dumps([v.__dict__ for v in rows], indent=1, default=list))
        return
    for v in rows:
        mark = "*" if v.default else " "
        langs = ",".join(v.languages)
        _echo(f"{mark} {v.engine:<7} {v.id:<28} {v.name:<30} {langs}")


@cli.group()
def cache() -> None:
    """The cache: speech (each utterance is synthesised once) and what is made from it."""


@cache.command("info")
def cache_info_cmd() -> None:
    """Where the cache is, how big (all kinds together) and its cap."""
    from voicecoach.storage.diskcache import CACHE_MAX_ENV, cache_max_bytes, usage
    from voicecoach.storage.resources import cache_root

    kinds = usage()
    files = sum(n for n, _ in kinds.values())
    total = sum(size for _, size in kinds.values())
    cap = cache_max_bytes()
    _echo(f"path: {cache_root()}")
    _echo(
        f"size: {total / 1e6:.1f} MB in {files} files ({total} bytes); cap {cap / 1e6:.1f} MB "
        f"(${CACHE_MAX_ENV}), the least recently used go first"
    )
    for name, (n, size) in kinds.items():
        what = "entries" if name == "speech" else "files"
        again = "" if name == "speech" else " (remade when needed)"
        _echo(f"{name}: {n} {what}, {size / 1e6:.1f} MB{again}")


@cache.command("clear")
def cache_clear_cmd() -> None:
    """Delete every cached utterance, and the loudness, tone and prepared-speech caches made from them."""
    from voicecoach.speech import cache_clear
    from voicecoach.storage.resources import clear_derived_caches

    entries = cache_clear()
    derived = clear_derived_caches()
    _echo(f"removed {entries} entries (and {derived} loudness, tone and prepared-speech files)")

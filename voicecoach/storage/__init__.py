"""Where files live and how they are written: the package's data, the cache folder and its
checked entries, atomic writes.

Modules: ``resources`` (the data that ships with voicecoach, the cache
folder), ``atomic`` (every file written whole or not at all: ``replacing``
for one file, ``PartFiles`` for an export's files committed together),
``diskcache`` (checked cache entries, the cap on the whole cache, the code
digest in every derived-cache key).

The names below load their module on first use, like ``voicecoach.speech``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voicecoach._lazy import lazy_exports

_EXPORTS = {
    "builtin_scripts_dir": "voicecoach.storage.resources",
    "cache_root": "voicecoach.storage.resources",
    "clear_derived_caches": "voicecoach.storage.resources",
    "data_dir": "voicecoach.storage.resources",
    "palettes_dir": "voicecoach.storage.resources",
    "PartFiles": "voicecoach.storage.atomic",
    "atomic_write_text": "voicecoach.storage.atomic",
    "clean_stale_parts": "voicecoach.storage.atomic",
    "new_temp_beside": "voicecoach.storage.atomic",
    "replacing": "voicecoach.storage.atomic",
    "cache_max_bytes": "voicecoach.storage.diskcache",
    "code_digest": "voicecoach.storage.diskcache",
    "load_array": "voicecoach.storage.diskcache",
    "load_json": "voicecoach.storage.diskcache",
    "save_array": "voicecoach.storage.diskcache",
    "save_json": "voicecoach.storage.diskcache",
    "usage": "voicecoach.storage.diskcache",
}

__all__ = [
    "PartFiles",
    "atomic_write_text",
    "builtin_scripts_dir",
    "cache_max_bytes",
    "cache_root",
    "clean_stale_parts",
    "clear_derived_caches",
    "code_digest",
    "data_dir",
    "load_array",
    "load_json",
    "new_temp_beside",
    "palettes_dir",
    "replacing",
    "save_array",
    "save_json",
    "usage",
]

if TYPE_CHECKING:
    from voicecoach.storage.atomic import (
        PartFiles,
        atomic_write_text,
        clean_stale_parts,
        new_temp_beside,
        replacing,
    )
    from voicecoach.storage.diskcache import (
        cache_max_bytes,
        code_digest,
        load_array,
        load_json,
        save_array,
        save_json,
        usage,
    )
    from voicecoach.storage.resources import (
        builtin_scripts_dir,
        cache_root,
        clear_derived_caches,
        data_dir,
        palettes_dir,
    )


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

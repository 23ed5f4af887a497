"""Second-order-section filtering (the K-weighting) with scipy's compiled core, without ``scipy.signal``.

Importing ``scipy.signal`` costs about 0.7 s of CPU (it imports ``scipy.stats``,
``scipy.optimize``, ``scipy.interpolate`` and more), paid by every process that
levels a phrase or meters an export: on two cores busy with synthesis it
took 2 s of wall time in a cold export. What the meter needs is one compiled
function, ``scipy.signal._sosfilt._sosfilt``, the loop behind
``scipy.signal.sosfilt``: its extension module loads by itself in a few
milliseconds (it needs numpy and the ``scipy`` package, not ``scipy.signal``).
``sosfilt`` here loads it from scipy's installed files and gives it what
``scipy.signal.sosfilt`` gives it (float64, one row per signal, C order, a
copy filtered in place), so the numbers are the same to the last bit
(``tests/sound/test_iir.py``). If the module is not where this scipy keeps
it (another scipy layout), the public ``scipy.signal.sosfilt`` is used.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import threading
from collections.abc import Callable

import numpy as np

_Core = Callable[[np.ndarray, np.ndarray, np.ndarray], None]  # (sos, x, zi), in place
_CORE: list[_Core | None] = []  # loaded once: [the core] or [None] (use scipy.signal)
_CORE_LOCK = threading.Lock()


def _load_core() -> _Core | None:
    """``scipy.signal._sosfilt._sosfilt`` loaded from its file, or ``None`` when it is not there."""
    try:
        spec = importlib.util.find_spec("scipy")
        if spec is None or not spec.submodule_search_locations:
            return None
        folder = os.path.join(list(spec.submodule_search_locations)[0], "signal")
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(folder, "_sosfilt" + suffix)
            if os.path.exists(path):
                core_spec = importlib.util.spec_from_file_location("scipy.signal._sosfilt", path)
                if core_spec is None or core_spec.loader is None:
                    return None
                module = importlib.util.module_from_spec(core_spec)
                core_spec.loader.exec_module(module)
                core = module._sosfilt
                return core if callable(core) else None
    except Exception:  # any surprise: the public function
        return None
    return None


def _core() -> _Core | None:
    with _CORE_LOCK:
        if not _CORE:
            _CORE.append(_load_core())
        return _CORE[0]


def sosfilt(
    sos: np.ndarray, x: np.ndarray, zi: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``scipy.signal.sosfilt(sos, x, axis=0, zi=zi)`` in float64: ``(y, zf)``.

    ``x`` is ``(frames,)`` with ``zi`` of shape ``(sections, 2)``, or
    ``(frames, channels)`` with ``zi`` of shape ``(sections, 2, channels)``;
    ``zi=None`` starts at rest. ``x`` and ``zi`` are not changed.
    """
    sections = len(sos)
    if x.ndim == 1:
        rows = np.array(x[None, :], dtype=np.float64, order="C")
        state = np.zeros((1, sections, 2)) if zi is None else np.array(zi[None], dtype=np.float64)
    else:
        rows = np.array(x.T, dtype=np.float64, order="C")
        state = (
            np.zeros((x.shape[1], sections, 2))
            if zi is None
            else np.array(np.moveaxis(zi, 2, 0), dtype=np.float64, order="C")
        )
    core = _core()
    if core is None:
        from scipy.signal import sosfilt as public

        y, zf = public(sos, rows, axis=-1, zi=np.moveaxis(state, 0, 1))
        rows, state = np.asarray(y), np.ascontiguousarray(np.moveaxis(zf, 1, 0))
    else:
        core(np.ascontiguousarray(sos, dtype=np.float64), rows, state)
    if x.ndim == 1:
        return rows[0], state[0]
    return rows.T, np.moveaxis(state, 0, 2)

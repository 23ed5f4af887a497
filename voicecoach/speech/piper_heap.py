"""The Piper worker's heap: freed memory reused within a phrase, given back after a long text."""

from __future__ import annotations

from typing import Any

# glibc's mallopt parameters (malloc.h)
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
_HEAP_BLOCK_BYTES = 64 * 1024 * 1024  # while speaking a phrase
_LONG_TEXT_BLOCK_BYTES = 4 * 1024 * 1024  # while speaking a long text (a piece of a long line)


class WorkerHeap:
    """In the worker: glibc reuses freed memory for a phrase's next tensors instead of mapping new pages.

    onnxruntime's own arena is off (it kept ~1 GiB after a long line), so each
    tensor is a malloc; glibc maps blocks over 128 kB-32 MB (it adapts) fresh
    from the kernel and unmaps them on free, and those page faults cost a
    worker a tenth of its CPU time over upper-back's phrases (system time 4.0
    s in 32.6 s; 1.0-1.2 s with this). While speaking a phrase of up to
    ``piper.HEAP_REUSE_MAX_LENGTH``, blocks up to 64 MB come from the heap, which
    keeps 64 MB spare. A longer text (memory follows its length, see
    ``long_text``) maps every block over 4 MB and gives the heap back after,
    so its peak memory stays what it was (measured on a 5000-character line:
    64 MB blocks throughout raised the worker's peak from 764 MiB to 1154 MiB).
    Does nothing where malloc is not glibc's.
    """

    def __init__(self) -> None:
        import ctypes
        import sys

        self._mallopt: Any = None
        self._malloc_trim: Any = None
        self._block_bytes = 0
        if not sys.platform.startswith("linux"):
            return
        try:
            libc = ctypes.CDLL(None)
            mallopt, malloc_trim = libc.mallopt, libc.malloc_trim
        except (OSError, AttributeError):
            return
        mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        mallopt.restype = ctypes.c_int
        malloc_trim.argtypes = [ctypes.c_size_t]
        malloc_trim.restype = ctypes.c_int
        self._mallopt, self._malloc_trim = mallopt, malloc_trim
        mallopt(_M_TOP_PAD, _HEAP_BLOCK_BYTES)

    def reuse(self, phrase: bool) -> None:
        """Before a run: heap blocks up to 64 MB for a phrase, 4 MB for a long text."""
        block_bytes = _HEAP_BLOCK_BYTES if phrase else _LONG_TEXT_BLOCK_BYTES
        if self._mallopt is not None and block_bytes != self._block_bytes:
            self._mallopt(_M_MMAP_THRESHOLD, block_bytes)
            self._block_bytes = block_bytes

    def give_back(self) -> None:
        """After a long text: free pages go back to the system."""
        if self._malloc_trim is not None:
            self._malloc_trim(0)

"""eSpeak NG's state that carries over from one utterance to the next, and its reset.

Why: eSpeak NG (1.52, from the ``espeakng-loader`` wheel) keeps a few
variables of its waveform generator alive between utterances, so the same
text came out a few samples longer or shorter, and not bit-identical,
depending on what the worker had said before (and which of the pool's
workers said it). Measured on 53 prose lines and cues in six orders:
36 texts differed without a reset, none with it. The variables (wavegen.c):

- ``Flutter_ix``: the phase of the pitch flutter table; it moves the pitch,
  so cycle lengths, so the utterance's length;
- ``cycle_count``: the glottal cycle counter behind the roughness modulation;
- ``agc``: the automatic gain control's current gain;
- ``echo_buf``: the echo delay line (a voice with echo would replay the end of
  the previous utterance).

They are function-local ``static`` variables with no API, so they are found by
name in the library's ELF symbol table (the wheel's library keeps it) and
written back to the values they had right after start-up. eSpeak's own random
generator (breath noise, Klatt voices) is seeded from the clock at start-up;
``espeak_ng_SetRandSeed`` (public API) fixes it before each utterance.

Standard library only: it runs in the speech worker.
"""

from __future__ import annotations

import ctypes
import struct

# Names as in eSpeak's sources; a function-local static is "name.NNNN" in the table.
CARRIED_VARIABLES = ("Flutter_ix", "cycle_count", "agc", "echo_buf")
RAND_SEED = 1  # any fixed number: eSpeak's noise is the same for every utterance of a text
_ANCHOR = "espeak_Synth"  # an exported function: its address gives the library's load base
_ELF64_LE_MAGIC = b"\x7fELF\x02\x01"
_SHT_SYMTAB = 2
_SYMBOL = struct.Struct("<IBBHQQ")  # Elf64_Sym: name, info, other, shndx, value, size


class StateReset:
    """Puts eSpeak NG's carried-over state back to its start-up values before an utterance.

    Build it after eSpeak has been initialised and before the first utterance.
    ``complete`` is False when a variable was not found (a stripped or other
    build of the library): the reset then covers only what was found.
    """

    def __init__(self, library_path: str) -> None:
        self._library = ctypes.CDLL(library_path)  # the already loaded copy: same handle
        symbols = elf_symbols(library_path, (_ANCHOR, *CARRIED_VARIABLES))
        self.missing = tuple(n for n in CARRIED_VARIABLES if n not in symbols)
        self._regions: list[tuple[int, bytes]] = []
        if _ANCHOR in symbols:
            anchor = ctypes.cast(getattr(self._library, _ANCHOR), ctypes.c_void_p).value
            base = int(anchor or 0) - symbols[_ANCHOR][0]
            for name in CARRIED_VARIABLES:
                if name in symbols:
                    offset, size = symbols[name]
                    address = base + offset
                    self._regions.append((address, ctypes.string_at(address, size)))
        else:
            self.missing = CARRIED_VARIABLES
        self._set_seed = getattr(self._library, "espeak_ng_SetRandSeed", None)
        if self._set_seed is not None:
            self._set_seed.argtypes = [ctypes.c_long]
            self._set_seed.restype = None

    @property
    def complete(self) -> bool:
        return not self.missing and self._set_seed is not None

    def __call__(self) -> None:
        """Reset; only while eSpeak's own thread is idle (nothing is being synthesised)."""
        for address, initial in self._regions:
            ctypes.memmove(address, initial, len(initial))
        if self._set_seed is not None:
            self._set_seed(RAND_SEED)


def elf_symbols(path: str, names: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """``{name: (value, size)}`` from a 64-bit little-endian ELF file's ``.symtab``.

    A local static ``name.NNNN`` counts as ``name``. Names not found, or a file
    that is not such an ELF file or has no symbol table, are left out.
    """
    wanted = set(names)
    found: dict[str, tuple[int, int]] = {}
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return found
    if not data.startswith(_ELF64_LE_MAGIC):
        return found
    section_offset = struct.unpack_from("<Q", data, 0x28)[0]
    entry_size, count = struct.unpack_from("<HH", data, 0x3A)
    sections = [
        struct.unpack_from("<IIQQQQIIQQ", data, section_offset + i * entry_size)
        for i in range(count)
    ]
    for _name, kind, _flags, _addr, offset, size, link, _info, _align, sym_size in sections:
        if kind != _SHT_SYMTAB or sym_size != _SYMBOL.size:
            continue
        strings_offset = sections[link][4]
        for at in range(offset, offset + size, sym_size):
            name_at, _, _, _, value, sym_bytes = _SYMBOL.unpack_from(data, at)
            end = data.index(b"\0", strings_offset + name_at)
            name = data[strings_offset + name_at : end].decode("ascii", "replace")
            base_name = name.split(".", 1)[0]
            if base_name in wanted and base_name not in found and value:
                found[base_name] = (value, sym_bytes)
    return found

"""The script language's limits: every bound a script's size and values are checked against.

One home for each number, read by the parser, the compiler, the library API's
overrides (``session.Overrides``) and the command line's options; a test
(tests/language/test_limits.py) checks that the CLI's ranges and choices are
these. The level and engine names live with the parsed script
(``script.LEVELS``, ``script.ENGINES``).
"""

from __future__ import annotations

RATE_RANGE_WPM = (80, 450)  # front matter ``rate`` and ``--rate``: words per minute as heard
VOLUME_RANGE_DB = (-60.0, 20.0)  # front matter ``voice_volume`` and ``tone_volume``
MIN_PHASE_S = 0.5  # a breath phase, wiper sweep or rolling stroke lasts at least this long
MAX_DIRECTIVE_S = 3600.0  # any one directive (and lead_in, line_pause...) lasts at most 1 hour
MAX_SESSION_S = 4 * 3600  # a whole session lasts at most 4 hours
MAX_SCRIPT_BYTES = 1024 * 1024  # a script (each file) is at most 1 MiB
MAX_INCLUDE_DEPTH = 8  # includes nest at most 8 levels below the main script
MAX_CUES = 20_000  # items (spoken lines and cues) after include and sides are expanded
MAX_ERRORS = 1000  # diagnostics per run; beyond that one last error says so
MAX_ERRORS_PER_LINE = 10  # a line of garbage is not reported character by character
MAX_CUE_TOKENS = 64  # tokens of one cue that are read (no directive takes more than 8)

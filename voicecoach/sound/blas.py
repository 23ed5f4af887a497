"""One BLAS thread while a session renders: its matrix products are small, and idle BLAS threads spin.

numpy's OpenBLAS starts a thread per core and, between calls, lets them spin
waiting for work. voicecoach's products are small (the true-peak
interpolator's 13 x 4 taps, the resampler's polyphase branches): split over two
threads they are no faster, and the spinning thread takes a core. Measured on a
2-core machine, rendering, limiting, metering and writing upper-back (18 min)
in one process: 3.8 s of CPU in 2.2 s with OpenBLAS's default threads, 2.0 s
of CPU in 2.0 s with one. In a cold export with the natural voice, both cores
already synthesise speech, so those 1.8 s were taken from synthesis.
``threadpoolctl`` sets the limit for the time of a ``with`` block and puts the
old one back after it (numpy may have been imported before, so an environment
variable would come too late).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS libraries loaded in this process use one thread inside the block (as before after it)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield

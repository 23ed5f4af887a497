"""The practice journal: every play, its re-check answers, and what they show over time.

    from voicecoach.journal import Journal
    for practice in Journal().practices(session="upper-back"):
        print(practice.started, practice.finished, practice.rating("upper-back"))

Everything stays in one SQLite file in the user's data folder
(``$VOICECOACH_DATA_DIR``, else ``~/.local/share/voicecoach`` on Linux); nothing
is ever sent anywhere. Errors are one ``JournalError``.
"""

from voicecoach.errors import JournalError
from voicecoach.journal.entries import Practice, Rating, Stats, Trend, TrendPoint
from voicecoach.journal.store import Journal, default_path
from voicecoach.journal.summary import stats, trends

__all__ = [
    "Journal",
    "JournalError",
    "Practice",
    "Rating",
    "Stats",
    "Trend",
    "TrendPoint",
    "default_path",
    "stats",
    "trends",
]

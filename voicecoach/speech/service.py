"""``SpeechService``: what the compiler and the renderer ask for speech.

The compiler calls ``prepare`` with every phrase of a plan (synthesising only
what the cache lacks), then ``duration_samples``/``duration_s`` per phrase;
the renderer fetches audio by ``key``. Engines are chosen by name here.
A long phrase is synthesised in pieces and joined here, for every engine
(``long_text``); the cache still holds it, whole, under its own key.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable

from voicecoach.errors import EngineStartError, PhraseError, SpeechError, VoiceError
from voicecoach.speech import long_text
from voicecoach.speech.cache import EntryInfo, SpeechCache, speech_key
from voicecoach.speech.engine import PerVoiceIdentity, SpeechAudio, SpeechEngine

ENGINE_NAMES = ("system", "piper")
PARALLEL_MIN_UTTERANCES = 16  # below this a second worker costs more to start than it saves
_MEMORY_LRU_BYTES = 64 * 1024 * 1024  # decoded audio kept in memory for the renderer
_PIPER_HINT = 'install the natural voice with: pip install "voicecoach[natural]"'
_SHOWN_CHARS = 48  # of a phrase quoted in an error


class SpeechService:
    """Speech for one (engine, voice, rate), backed by the disk cache.

    With ``cache=None`` nothing touches the disk: audio is kept in memory.
    Thread-safe.
    """

    def __init__(
        self,
        engine: SpeechEngine,
        *,
        voice: str | None,
        rate_wpm: int,
        cache: SpeechCache | None,
    ) -> None:
        self.engine = engine
        self.engine_name: str = engine.name
        self.voice = voice
        self.rate_wpm = int(rate_wpm)
        self.cache = cache
        # An engine may name each voice's own model (piper: PerVoiceIdentity);
        # otherwise the engine's identity plus the voice string is the key.
        if isinstance(engine, PerVoiceIdentity):
            self._identity = engine.voice_identity(voice)
        else:
            self._identity = engine.identity()
        self.max_piece_chars = long_text.max_piece_chars(self.rate_wpm)
        self._lock = threading.Lock()
        self._join_pauses: dict[str, int] = {}  # join kind -> pause in samples (long phrases)
        self._texts: dict[str, str] = {}  # key -> text, to re-make a damaged entry
        self._infos: dict[str, EntryInfo] = {}
        self._kept: dict[str, SpeechAudio] = {}  # everything, when there is no cache
        self._recent: OrderedDict[str, SpeechAudio] = OrderedDict()
        self._recent_bytes = 0
        # progress(done, total) while ``prepare`` synthesises: the CLI tells the person what it waits for
        self.progress: Callable[[int, int], None] | None = None

    def key(self, text: str) -> str:
        """The speech key of ``text`` (what plans store and the renderer looks up).

        A phrase spoken in pieces also keys on how it is split and joined.
        """
        identity = self._identity
        if len(text) > self.max_piece_chars:
            identity = f"{identity}:{long_text.SPLIT_RECIPE}"
        return speech_key(identity, self.voice, self.rate_wpm, text)

    def prepare(self, texts: Iterable[str]) -> None:
        """Synthesise every distinct text the cache does not hold yet.

        Uses up to ``engine.parallelism`` workers at once for a batch of at
        least the engine's ``parallel_min_utterances`` (default
        ``PARALLEL_MIN_UTTERANCES``), taking the texts in the order given.
        Cheap to call often with small batches: the engine keeps its workers
        between calls.
        """
        pending: dict[str, str] = {}
        for text in texts:
            key = self.key(text)
            with self._lock:
                self._texts.setdefault(key, text)
                if key in self._infos or key in pending:
                    continue
            info = self.cache.info(key) if self.cache is not None else None
            if info is not None:
                with self._lock:
                    self._infos[key] = info
            else:
                pending[key] = text
        if not pending:
            return
        jobs = list(pending.items())
        make = self._make
        if self.progress is not None:
            report, done = self.progress, [0]
            report(0, len(jobs))

            def make(key: str, text: str) -> None:
                self._make(key, text)
                with self._lock:
                    done[0] += 1
                    report(done[0], len(jobs))

        workers = max(1, self.engine.parallelism)
        least = getattr(self.engine, "parallel_min_utterances", PARALLEL_MIN_UTTERANCES)
        if workers == 1 or len(jobs) < max(2, least):
            for key, text in jobs:
                make(key, text)
            return
        from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="speech") as pool:
            futures = [pool.submit(make, key, text) for key, text in jobs]
            finished, unfinished = wait(futures, return_when=FIRST_EXCEPTION)
            for future in unfinished:
                future.cancel()
            for future in futures:
                error = future.exception() if future in finished else None
                if error is not None:
                    raise error

    def is_ready(self, text: str) -> bool:
        """Whether ``text`` is synthesised (in memory or in the cache): its length costs nothing."""
        key = self.key(text)
        with self._lock:
            if key in self._infos:
                return True
        info = self.cache.info(key) if self.cache is not None else None
        if info is None:
            return False
        with self._lock:
            self._texts.setdefault(key, text)
            self._infos[key] = info
        return True

    def duration_s(self, text: str) -> float:
        """Length of the spoken ``text`` in seconds (synthesises it if needed)."""
        return self._info(text).duration_s

    def duration_samples(self, text: str, sample_rate: int) -> int:
        """Length of ``text`` at ``sample_rate``, rounded exactly as the renderer resamples.

        Same formula as ``SpeechAudio.duration_samples_at``.
        """
        info = self._info(text)
        return int(round(info.frames * sample_rate / info.sample_rate))

    def audio(self, key: str) -> SpeechAudio:
        """The audio of a prepared utterance, by key; a damaged cache entry is re-made."""
        with self._lock:
            if key in self._kept:
                return self._kept[key]
            if key in self._recent:
                self._recent.move_to_end(key)
                return self._recent[key]
            text = self._texts.get(key)
        audio = self.cache.load(key) if self.cache is not None else None
        if audio is None:
            if text is None:
                raise SpeechError(
                    f"no speech for key {key[:12]}...: it was not prepared by this speech service"
                )
            if self.cache is not None:
                self.cache.discard(key)
            self._make(key, text)
            if self.cache is None:
                audio = self._kept[key]
            else:
                audio = self.cache.load(key)
                if audio is None:
                    raise SpeechError(f"the speech cache at {self.cache.root} cannot be read back")
        self._remember(key, audio)
        return audio

    def close(self) -> None:
        """Stop the engine's workers."""
        self.engine.close()

    def __enter__(self) -> SpeechService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------

    def _info(self, text: str) -> EntryInfo:
        key = self.key(text)
        with self._lock:
            info = self._infos.get(key)
        if info is None:
            self.prepare([text])
            info = self._infos[key]
        return info

    def _make(self, key: str, text: str) -> None:
        try:
            audio = self._synthesize(text)
        except (VoiceError, EngineStartError, PhraseError):
            raise
        except SpeechError as e:
            shown = " ".join(text.split())
            if len(shown) > _SHOWN_CHARS:
                shown = f"{shown[:_SHOWN_CHARS]}... ({len(text)} characters)"
            raise PhraseError(f'could not speak "{shown}": {e}', text) from e
        if self.cache is not None:
            info = self.cache.store(key, audio)
        else:
            import numpy as np  # here: a warm `plan` never needs numpy

            samples = np.ascontiguousarray(audio.samples, dtype=np.float32)
            audio = SpeechAudio(samples=samples, sample_rate=int(audio.sample_rate))
            info = EntryInfo(frames=len(samples), sample_rate=audio.sample_rate)
        with self._lock:
            self._infos[key] = info
            if self.cache is None:
                self._kept[key] = audio

    def _synthesize(self, text: str) -> SpeechAudio:
        """The engine's audio of ``text``; a long one in pieces, joined (``long_text``)."""
        pieces = long_text.split_text(text, self.max_piece_chars)
        if len(pieces) == 1:
            return self.engine.synthesize(text, voice=self.voice, rate_wpm=self.rate_wpm)
        audios = [
            self.engine.synthesize(
                long_text.piece_text(piece), voice=self.voice, rate_wpm=self.rate_wpm
            )
            for piece in pieces
        ]
        sample_rate = audios[0].sample_rate
        if any(a.sample_rate != sample_rate for a in audios):
            raise SpeechError(f"the {self.engine_name} engine changed its sample rate mid-phrase")
        pauses = [self._join_pause(piece.join, sample_rate) for piece in pieces[:-1]]
        samples = long_text.join_pieces([a.samples for a in audios], pauses)
        return SpeechAudio(samples=samples, sample_rate=sample_rate)

    def _join_pause(self, kind: str, sample_rate: int) -> int:
        """The pause (samples) the engine leaves at a join of ``kind``: measured once, then kept."""
        with self._lock:
            pause = self._join_pauses.get(kind)
        if pause is None:
            line = long_text.calibration_line(kind)
            audio = self.engine.synthesize(line, voice=self.voice, rate_wpm=self.rate_wpm)
            pause = long_text.pause_samples(audio.samples, audio.sample_rate)
            if pause < 0 or audio.sample_rate != sample_rate:
                pause = long_text.fallback_pause_samples(kind, self.rate_wpm, sample_rate)
            with self._lock:
                pause = self._join_pauses.setdefault(kind, pause)
        return pause

    def _remember(self, key: str, audio: SpeechAudio) -> None:
        with self._lock:
            if key in self._kept or key in self._recent:
                return
            self._recent[key] = audio
            self._recent_bytes += audio.samples.nbytes
            while self._recent_bytes > _MEMORY_LRU_BYTES and len(self._recent) > 1:
                _, old = self._recent.popitem(last=False)
                self._recent_bytes -= old.samples.nbytes


def get_engine(name: str) -> SpeechEngine:
    """A new engine by name: ``"system"`` or ``"piper"``; ``SpeechError`` if unavailable."""
    if name == "system":
        from voicecoach.speech.system import SystemEngine

        return SystemEngine()
    if name == "piper":
        try:
            from voicecoach.speech import piper
        except ImportError as e:
            raise SpeechError(f"the piper engine is not available ({e}); {_PIPER_HINT}") from e
        if not piper.is_installed():
            raise SpeechError(f"the piper engine is not installed; {_PIPER_HINT}")
        return piper.PiperEngine()
    choices = " or ".join(f"'{n}'" for n in ENGINE_NAMES)
    raise SpeechError(f"unknown speech engine '{name}': choose {choices}")


def default_engine_name() -> str:
    """``"piper"`` when the natural voice is installed, else ``"system"`` (the spec's rule)."""
    try:
        from voicecoach.speech import piper

        return "piper" if piper.is_installed() else "system"
    except Exception:  # a broken optional install must not stop the default engine
        return "system"


def open_speech(
    engine: str | None, *, voice: str | None, rate_wpm: int, use_cache: bool = True
) -> SpeechService:
    """A ``SpeechService`` for the named engine (``None``: the default engine)."""
    name = engine if engine is not None else default_engine_name()
    cache = SpeechCache() if use_cache else None
    return SpeechService(get_engine(name), voice=voice, rate_wpm=rate_wpm, cache=cache)

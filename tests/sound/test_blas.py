"""Export and play render with one BLAS thread (OpenBLAS's idle threads spin), and put the old limit back."""

from __future__ import annotations

from threadpoolctl import threadpool_info, threadpool_limits

from tests.export.test_export import COLD_SCRIPT
from voicecoach.sound.blas import one_blas_thread


def _blas_threads() -> list[int]:
    return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]


def test_the_limit_holds_inside_the_block_only():
    assert _blas_threads(), "numpy's BLAS is not seen: the limit would do nothing"
    with threadpool_limits(limits=2, user_api="blas"):  # as on a 2-core machine, whatever this one
        with one_blas_thread():
            assert set(_blas_threads()) == {1}
        assert set(_blas_threads()) == {2}


def test_an_export_renders_with_one_blas_thread(tmp_path, monkeypatch):
    from voicecoach.export import writer
    from voicecoach.session import load

    monkeypatch.setenv("VOICECOACH_CACHE_DIR", str(tmp_path / "cache"))
    script = tmp_path / "s.md"
    script.write_text(COLD_SCRIPT, encoding="utf-8")
    seen: list[list[int]] = []
    real = writer.export_plan

    def export_plan(*args, **kwargs):
        seen.append(_blas_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(writer, "export_plan", export_plan)
    with threadpool_limits(limits=2, user_api="blas"):
        with load(script, engine="system") as session:
            result = session.export(tmp_path / "s.wav")
        assert set(_blas_threads()) == {2}
    assert seen and set(seen[0]) == {1}
    assert result.path.exists()

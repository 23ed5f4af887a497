"""Publishing a class: sessions as a static site (podcast feed, phone page) and serving it.

    from voicecoach.publish import PublishOptions, publish
    publish(["upper-back", "wind-down"], "site", PublishOptions(base_url="http://127.0.0.1:8765/"))

``site`` builds the folder (``folder``: its lock and the final swap), ``feed`` the RSS,
``page`` the HTML (assets in ``static/``), ``chapters`` the JSON chapters, ``art`` the cover,
``qr`` the QR codes, ``serve`` the server, ``commands`` the two CLI commands. Names load on first use, so the CLI starts as fast as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from voicecoach.publish.site import PublishOptions, PublishReport, publish

__all__ = ["PublishOptions", "PublishReport", "publish"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from voicecoach.publish import site

        return getattr(site, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

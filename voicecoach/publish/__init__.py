"""Publishing a class: sessions as a static site (podcast feed, phone page) and serving it.

    from voicecoach.publish import PublishOptions, publish
    publish(["upper-back", "wind-down"], "site", PublishOptions(base_url="http://127.0.0.1:8765/"))

``site`` builds the folder, ``feed`` the RSS, ``page`` the HTML (assets in ``static/``),
``chapters`` the JSON chapters, ``art`` the cover, ``qr`` the QR codes, ``serve`` the server.
"""

from __future__ import annotations

from .site import PublishOptions, PublishReport, publish

__all__ = ["PublishOptions", "PublishReport", "publish"]

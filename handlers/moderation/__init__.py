"""Moderation: ads in every form and unapproved invites (issue 8).

``detector`` is pure: it knows no WeChat and no storage.  ``ads`` judges
messages and does cases; ``admin`` holds the admins' commands; ``digest``
tells admins daily what shadow mode would have done.  One feature,
:data:`feature`, registered in ``handlers.features``.
"""

from handlers.moderation import admin, ads, digest

feature = ads.feature

__all__ = ["admin", "ads", "digest", "feature"]

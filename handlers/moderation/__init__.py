"""Moderation: ads in every form and unapproved invites (issue 8).

``detector`` is pure: it knows no WeChat and no storage.
"""

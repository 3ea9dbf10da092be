"""The ad detector: normalise, run every check, weigh them into a verdict.

Pure functions and small stateful classes on injected times; no WeChat, no
storage.  Every check returns a :class:`~.results.CheckResult`, for clean
messages too (as tg-spam does), so a verdict always explains itself.
"""

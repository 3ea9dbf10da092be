"""The vocabulary every package shares: a leaf that imports no other package of qunbot.

``events`` (what handlers receive), ``actions`` (what they return),
``clock`` (the injected time), ``keys`` (idempotency keys and validity
windows), ``policy`` (a group's resolved policy) and ``texts`` (rendering the
bot's text).  ``tests/unit/test_layers.py`` proves the leaf imports nothing
else of the project.
"""

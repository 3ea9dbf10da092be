"""The ``lottery`` calendar kind (issue 10 point 7): a provably fair lottery.

``fair`` is the draw (pure, documented, reimplementable); ``store`` its
tables; ``content`` the entry's ``lottery:`` model; ``feature`` the kind, the
entry handler, ``#开奖`` and the ``tick`` job.  Import ``sop.lottery.feature``
for the feature (this package itself imports nothing heavy, so the CLI's
``lottery verify`` needs neither a database nor the bot).
"""

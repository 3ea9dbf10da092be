"""qunbot runtime: config, wiring, dispatcher, governor, transports, CLI.

Only modules under ``bot.transport`` import the Wechaty SDK; the domain types
here (``events``, ``actions``, ``clock``) are shared with ``handlers`` and
``sop``, which never see Wechaty.
"""

__version__ = "0.1.0"

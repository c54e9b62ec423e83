"""Chat services a story is posted to.

Each notifier has a ``kind`` and three coroutines: ``send(alert) -> message id``,
``edit(alert)`` (update an earlier post) and ``aclose()``. Failures are raised
as :class:`monitor.errors.DeliveryError`, whose ``permanent`` flag says whether a
retry can help; pacing and retrying are the caller's job.

- :mod:`notifiers.render`: story → message text (Telegram HTML or plain text)
- :mod:`notifiers.telegram`: Telegram Bot API via python-telegram-bot
- :mod:`notifiers.console`: plain text on a stream, for demos and dry runs
"""

"""Chat services a story is posted to.

Each notifier has a ``kind`` and three coroutines: ``send(alert) -> message id``,
``edit(alert)`` (update an earlier post) and ``aclose()``. Failures are raised
as :class:`monitor.errors.DeliveryError`, whose ``permanent`` flag says whether a
retry can help; pacing and retrying are the caller's job.

- :mod:`notifiers.render`: story → message text (Telegram HTML, plain text,
  Markdown), digests grouped by province and split to a service's length
- :mod:`notifiers.filters`: a channel's include/exclude terms, regular
  expressions under a time limit
- :mod:`notifiers.telegram`: Telegram Bot API via python-telegram-bot, one
  client and one bot-wide rate limit (:mod:`notifiers.ratelimit`) for all chats
- :mod:`notifiers.webhook`: signed JSON POSTs to the operator's systems
- :mod:`notifiers.apprise`: WeCom, DingTalk, Feishu, Slack, e-mail … via Apprise
- :mod:`notifiers.console`: plain text on a stream, for demos and dry runs
- :mod:`notifiers.deliver`: the outbox loop; :mod:`notifiers.digest`: digests
  (scheduled, of a backlog, on demand); :mod:`notifiers.channels`: subscribers'
  chats and paused channels; :mod:`notifiers.bot`: the bot in private chats,
  :mod:`notifiers.commands`: what its command words and buttons mean (pure);
  :mod:`notifiers.outlets`: all of it built from the configuration
"""

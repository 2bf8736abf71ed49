"""The agent console: accounts and sign-in sessions for routing's human agents, the work they do on
escalated conversations (offers, replies, internal notes, transfers, resolutions, suggested replies), the
live feed of their page and the e-mails that tell them of new offers.

Modules: `tables` (storage), `accounts` (passwords, rate limits), `sessions`, `notes`, `service` (what an
agent may see and do), `views` (JSON shapes), `suggestions`, `live` (WebSocket feed), `notifier` (e-mail),
`cli` (`frontdesk agents ...`). The HTTP edge is `frontdesk.api.console*`.
"""

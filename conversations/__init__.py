"""The conversation core: who answers a message, and everything that keeps a conversation whole.

- `inbox`: finds or creates the conversation, stores the message, decides who answers (the AI agent or the
  human agent it is assigned to), and runs the reply workers.
- `intake`: stores before it acknowledges, idempotent on the provider's message id; attachment quotas.
- `outbox`: outgoing messages with retries, each sent once; delivery status from the providers.
- `store`: the conversation and message tables and the `ConversationStore`.
- `handoff`: hand-over to routing (tickets, offers, the summary an agent reads), and routing events back.
- `hours`: business hours per channel.
- `interactions`: the interaction events analytics reads.
- `erasure`: a customer's data removed from every table.
- `webchat`: the web-chat service behind the widget's REST and WebSocket routes.
- `sender_trust`: how an unverified e-mail sender is shown to agents.

It may import `agent`, `channels`, `routing`, `analytics` and `knowledge`; nothing but `frontdesk` (the
composition root) and `evaluation` imports it.
"""

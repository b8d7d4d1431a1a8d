"""Mail out: the outbox, the dispatcher, one builder per email kind, composition and transports."""

"""The words the tables' plain-string columns hold, shared with the rest of the package.

Apart from the models so that pure code (the status matrix, the CLI's
output) can name them without importing SQLModel and building every table:
a read-only command such as ``followup status --country`` would otherwise
pay for that at each start. Import them from here (the models do too).
"""

from __future__ import annotations

PARTY_KINDS = ("country", "organisation")
CONTACT_ROLES = ("primary", "alternate", "cc")
ADDRESS_STATES = ("ok", "suspect", "failing")
MEETING_KINDS = ("rcgm", "rcm", "network", "other")
DUE_KINDS = ("date", "meeting", "recurring")
DUE_PRECISIONS = ("day", "month")
ASSIGNMENT_STATES = ("pending", "submitted", "confirmed", "waived", "extended")
OPEN_STATES = ("pending", "extended")
RESOLVED_STATES = ("submitted", "confirmed", "waived")
NOTIFICATION_KINDS = ("reminder", "due_today", "overdue", "escalation", "acknowledgement", "digest", "meeting_round")
NOTIFICATION_STATES = ("planned", "sending", "sent", "failed", "bounced", "cancelled")
INBOUND_CLASSES = ("human", "autoreply", "bounce", "unparseable")
INBOUND_INTENTS = ("confirmation", "extension", "question", "unknown")
TRIAGE_STATES = ("none", "open", "assigned", "dismissed")
ARCHIVE_CHANNELS = ("email", "web")
WEB_ROLES = ("secretariat", "viewer")

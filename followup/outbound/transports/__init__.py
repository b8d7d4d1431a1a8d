"""Where composed messages go: an SMTP server, or a local Maildir.

The implementations import :mod:`.base`, never this package, so choosing one
here is not an import circle.
"""

from __future__ import annotations

from followup.outbound.transports.base import Transport
from followup.settings import Settings


def make_transport(settings: Settings) -> Transport:
    """SMTP when a host is configured, else the local Maildir."""
    if settings.uses_smtp:
        from followup.outbound.transports.smtp import SmtpTransport

        return SmtpTransport(settings.smtp)
    from followup.outbound.transports.maildir import MaildirTransport

    return MaildirTransport(settings.mail.maildir)

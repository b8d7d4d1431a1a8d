"""Email in: read raw messages, work out what each one is and what it says.

Everything here except :mod:`followup.inbound.sources`,
:mod:`followup.inbound.imap_source` and :mod:`followup.inbound.mailbox_state`
is pure: bytes (or text) and a reference date in, plain data out, no I/O.
:func:`followup.inbound.classify.understand` is the entry point that ties the
pure parts together.
"""

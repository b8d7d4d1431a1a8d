"""The store: tables, the engine and migrations, data files, the audit trail and read-side queries.

The ground the other rooms stand on; it imports nothing from them.
"""

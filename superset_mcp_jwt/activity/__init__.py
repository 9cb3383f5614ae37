"""Who called which MCP tool, through which client, with what outcome: one record per call.

Core: no Flask, no FastMCP. :mod:`.records` says what a record holds (and what
it never holds), :mod:`.calls` is the per-call state the faces note outcomes
in, :mod:`.store` keeps the records in the metadata database (our own table,
migration 0005) and answers the activity view's queries, :mod:`.log` writes
them off the request path.
"""

"""Superset as the OAuth 2.1 authorization server of its MCP server: the core (no Flask)."""

"""Stand-in for Superset's ``superset.mcp_oauth`` package: an OAuth 2.1 authorization server for MCP.

Shaped like apache/superset ``superset/mcp_oauth/__init__.py`` at commit
76f1ad659454fb37bd734e73e9bbb607e41cd904 (with ``keys.py``, ``models.py`` at
134f0c5956b25cc16bb1ca7a4ae8c1735e5eded6, ``service.py`` at
0252cde0ff13849151b7e217f4485adf76649d3b and ``views.py`` at
134f0c5956b25cc16bb1ca7a4ae8c1735e5eded6); no release ships it.
"""

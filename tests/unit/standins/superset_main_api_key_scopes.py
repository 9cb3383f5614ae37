"""Stand-in for Superset main's ``superset.security.api_key_scopes`` (per-resource scopes, PR #42297).

The mappings of apache/superset ``superset/security/api_key_scopes.py`` at
commit 7ec57d6603b84b2bf047f7d6ae0d4f586f72c0a3, restated: FAB method
permissions to the two scope actions, tool permission classes to resource slugs.
"""

from __future__ import annotations

METHOD_PERMISSION_SCOPE_ACTION: dict[str, str] = {
    "read": "read",
    "get": "read",
    "write": "write",
    "update": "write",
    "delete": "write",
    "execute_sql_query": "write",
}

RESOURCE_SCOPE_NAME: dict[str, str] = {
    "Annotation": "annotation",
    "Chart": "chart",
    "Dashboard": "dashboard",
    "Database": "database",
    "Dataset": "dataset",
    "Explore": "explore",
    "Query": "query",
    "ReportSchedule": "report",
    "Role": "role",
    "Row Level Security": "rls",
    "SavedQuery": "savedquery",
    "SQLLab": "sqllab",
    "Tag": "tag",
    "Task": "task",
    "Theme": "theme",
    "User": "user",
}


def get_resource_scope(class_permission_name: str, method_permission_name: str) -> str | None:
    resource = RESOURCE_SCOPE_NAME.get(class_permission_name)
    action = METHOD_PERMISSION_SCOPE_ACTION.get(method_permission_name)
    if resource is None or action is None:
        return None
    return f"superset:{resource}:{action}"

"""What each role may do, in one place: the scopes its access tokens carry and the services
(the token's audience) it may reach through the gateway."""

ROLE_SCOPES: dict[str, tuple[str, ...]] = {
    "citizen": ("catalog:read", "cases:apply", "cases:read", "credentials:read", "queue:book"),
    "company": ("catalog:read", "cases:apply", "cases:read", "credentials:read", "credentials:seal", "queue:book"),
    "clerk": ("catalog:read", "cases:read", "cases:process", "credentials:read", "queue:operate"),
    "approver": ("catalog:read", "cases:read", "cases:approve", "credentials:issue"),
    "admin": ("catalog:read", "catalog:write", "cases:read", "cases:admin", "credentials:admin", "queue:admin",
              "interop:admin", "audit:read"),
    "auditor": ("catalog:read", "cases:read", "audit:read"),
}

ALL_AUDIENCES = ("gateway", "catalog", "cases", "credentials", "queue", "interop")
# The partner-city endpoints are for staff and partner systems, never for the public.
_PUBLIC_AUDIENCES = tuple(a for a in ALL_AUDIENCES if a != "interop")

ROLE_AUDIENCES: dict[str, tuple[str, ...]] = {
    "citizen": _PUBLIC_AUDIENCES,
    "company": _PUBLIC_AUDIENCES,
    "clerk": ALL_AUDIENCES,
    "approver": ALL_AUDIENCES,
    "admin": ALL_AUDIENCES,
    "auditor": ALL_AUDIENCES,
}

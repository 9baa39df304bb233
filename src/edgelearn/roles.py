"""Role names: one pattern and one check, used by every layer (the store included)."""

from __future__ import annotations

import re

from edgelearn.errors import InvalidInput

ROLE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_ROLE = re.compile(ROLE_PATTERN)


def check_role(role: object, field: str = "role") -> str:
    """``role`` if it is a role name; else ``InvalidInput`` naming ``field``."""
    if not isinstance(role, str) or not _ROLE.match(role):
        raise InvalidInput(f"{field}: {role!r} is not a role name (letters, digits, _ . -; 64 at most)",
                           field=field)
    return role

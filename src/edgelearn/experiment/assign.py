"""Sticky assignment of requests to the champion or the challenger of an experiment.

A session keeps its variant for the whole experiment, so one agent conversation does not
hop between two models mid-task (which would blur both variants' rewards). The variant is a
pure function of (experiment id, session): nothing to store, the same after a restart, and
the same in every process.

The hash is sha256 over a length-prefixed ``experiment_id`` and the session, read as a
uniform number u in [0, 1); the challenger gets ``u < challenger_share``. Consequences:

* shares come out right for any share, since u is uniform over sessions;
* keying on the experiment id draws a fresh split for each experiment, so no session is
  always the guinea pig;
* raising the share mid-experiment only moves sessions from champion to challenger, never
  back (u below the old share stays below the new one).

A request without a session cannot be sticky: it is assigned by the hash of its own request
id (or of a random one when it has none), i.e. a fresh draw per request with the same
shares.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Literal

from edgelearn.errors import InvalidInput

Variant = Literal["champion", "challenger"]


def bucket(experiment_id: str, key: str) -> float:
    """The uniform number in [0, 1) that decides ``key``'s variant in ``experiment_id``."""
    # The length prefix keeps ("ab", "c") and ("a", "bc") apart.
    digest = hashlib.sha256(f"{len(experiment_id)}:{experiment_id}:{key}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


def assign_variant(experiment_id: str, session_key: str | None, challenger_share: float, *,
                   request_id: str | None = None) -> Variant:
    """"champion" or "challenger" for a request; sticky per ``session_key`` within the experiment.

    Without a session (None or empty) the request is assigned by ``request_id`` (or a random
    id), so it is not sticky. Raises InvalidInput for an empty experiment id or a share
    outside [0, 1].
    """
    if not isinstance(experiment_id, str) or not experiment_id:
        raise InvalidInput("experiment_id must be a non-empty string", field="experiment_id")
    if isinstance(challenger_share, bool) or not isinstance(challenger_share, (int, float)) \
            or not 0.0 <= challenger_share <= 1.0:
        raise InvalidInput(f"challenger_share must be a number in [0, 1], got {challenger_share!r}",
                           field="challenger_share")
    if session_key:
        key = "s:" + session_key
    else:
        key = "r:" + (request_id or secrets.token_hex(16))
    return "challenger" if bucket(experiment_id, key) < challenger_share else "champion"

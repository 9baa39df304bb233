"""The public Python API's implementation: one interface, an embedded and an HTTP client, and
their async twins. Use it through ``edgelearn.open`` / ``edgelearn.connect`` (and ``aopen`` /
``aconnect``); see docs/api.md.
"""

from edgelearn.client.aio import AsyncClient
from edgelearn.client.base import Client
from edgelearn.client.embedded import EmbeddedClient
from edgelearn.client.http import DEFAULT_URL, HttpClient, probe, read_token
from edgelearn.client.values import (
    ClusterLevel,
    Event,
    Independence,
    Run,
    Selection,
    Session,
    SessionOutcome,
    SharePoint,
    SimilarRun,
)

__all__ = ["DEFAULT_URL", "AsyncClient", "Client", "ClusterLevel", "EmbeddedClient", "Event", "HttpClient",
           "Independence", "Run", "Selection", "Session", "SessionOutcome", "SharePoint", "SimilarRun", "probe",
           "read_token"]

"""Schemathesis hooks for scripts/drills.sh (loaded through SCHEMATHESIS_HOOKS).

A client picks a fresh Idempotency-Key for each new create and reuses it only to retry that create.
Hypothesis draws keys from a small space ("0", "!", ...), so unrelated generated creates would share
a key and, rightly, get 422 idempotency_key_reused or a replay of another case's task. Each
schema-valid key therefore gets a per-request suffix, as a real client's key would differ; keys
generated to break the schema are sent as they are, and must still be refused (400). What a key
means (replay, 422, 409, expiry) is tested by tests/api/tasks/idempotency.rs and
tests/postgres/idempotency.rs.

`GET /api/tasks` takes `cursor` or `offset`, never both (400, tests/api/tasks/paging.rs), a rule
between two parameters that the document states in words but a schema cannot: a schema-valid case
that sets both keeps its cursor only, as a client following `next_cursor` sends it.
"""

import uuid

import schemathesis
from schemathesis.core.parameters import ParameterLocation

KEY = "Idempotency-Key"
MAX_KEY_CHARS = 255  # api-app's tasks::idempotency::MAX_KEY_CHARS


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    query = case.query or {}
    negative_query = case.meta is not None and case.meta.is_negative_at(ParameterLocation.QUERY)
    if "cursor" in query and "offset" in query and not negative_query:
        del case.query["offset"]
    key = (case.headers or {}).get(KEY)
    negative = case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)
    if not isinstance(key, str) or negative:
        return
    suffix = "-" + uuid.uuid4().hex
    quoted = len(key) >= 2 and key.startswith('"') and key.endswith('"')
    inner = key[1:-1] if quoted else key
    if len(inner) + len(suffix) > MAX_KEY_CHARS:
        return
    unique = inner + suffix
    case.headers[KEY] = f'"{unique}"' if quoted else unique

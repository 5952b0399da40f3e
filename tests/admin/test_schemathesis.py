"""Schemathesis against /admin/api/openapi.json: generated requests (valid and not) find no 5xx and
no answer that breaks the documented schema."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.admin.helpers import CONFIG, TOKEN, post_lead  # noqa: E402

# Schemathesis-generated requests (Hypothesis) against the admin API.
pytestmark = pytest.mark.fuzz

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def admin_schema(make_app, pg_url):
    """The app on PostgreSQL (where out-of-range ids used to fail) with a few leads; its OpenAPI schema."""
    application = make_app(CONFIG, pg_url, ADMIN_TOKEN=TOKEN)
    client = application.test_client()
    for n in range(3):
        post_lead(client, n)
    # The document is behind admin auth (issue 18): schemathesis loads it with the bearer token.
    return schemathesis.openapi.from_wsgi(
        "/admin/api/openapi.json", application, headers={"Authorization": f"Bearer {TOKEN}"}
    )


# (schemathesis.pytest.from_fixture does not run under this pytest version, so the test drives
# each operation's hypothesis strategy itself: the same generation and the same checks.)
@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_admin_api_conforms(admin_schema, mode):
    """Each operation with generated arguments: no 5xx; status, content type and body as documented."""
    from hypothesis import given
    from schemathesis.generation import GenerationMode

    failures = []
    for result in admin_schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy(GenerationMode(mode)))
        def run(case):
            """One generated request through the WSGI app."""
            case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # collect, so one report names every failing operation
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)

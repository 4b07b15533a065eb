"""Contract check: schemathesis generates requests from /api/schema/ and the API never answers with a 5xx.

Every operation gets its documented examples, a bounded number of generated cases (valid and invalid) and the
coverage phase's boundary values, sent as an admin (who may call everything). Any error must be JSON with a
message, never an HTML page.
"""
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig

from retrieval.models import RetrieverVersion
from sbsapp.judging import Verdict, judgment_submit
from jobs.models import Job
from tests.api_builders import token_client
from tests.sbs_factories import install_fake_retrieval, make_campaign, make_dataset, make_item

CONFIG = SchemathesisConfig.from_dict({
    "seed": 20261125,  # the same cases on every run, so CI is reproducible
    "generation": {"mode": "all", "max-examples": 10, "database": "none"},
    "phases": {"stateful": {"enabled": False}},
})


@pytest.fixture
def admin_token(admin_user):
    return token_client(admin_user)._credentials["HTTP_AUTHORIZATION"]


def generated_schema() -> dict:
    """The schema /api/schema/ serves, built in-process (collection time has no database for a login).

    schemathesis' fixture-based loader does not work with pytest 9 (it sets `node._nodeid`), so the schema is
    loaded at import and its requests go to Django's WSGI application in this process.
    """
    import json

    from django.core.wsgi import get_wsgi_application
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    document = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))
    loaded = schemathesis.openapi.from_dict(document, config=CONFIG)
    loaded.app = get_wsgi_application()
    return loaded


schema = generated_schema()


@pytest.fixture
def api_data(db, annotator, monkeypatch):
    """Rows for the generated requests to find (names from the schema's examples); DB kept open across requests."""
    dataset = make_dataset(products=12, queries=8)
    for name in ("bm25-v1", "dense-synth-v2"):
        RetrieverVersion.objects.create(dataset=dataset, name=name, kind="bm25", status="ready")
    campaign = make_campaign(dataset=dataset, name="tail-queries-nov")
    judgment_submit(require_reservation=False,
                    item=make_item(campaign=campaign), annotator=annotator, verdict=Verdict(choice=1),
                    submit_key="contract")
    Job.objects.create(kind="synthesis", task_name="synthesis.tasks.ml_synthesize", status=Job.Status.RUNNING)
    install_fake_retrieval(monkeypatch, {})
    # A generated config that passes every check would start a real synthesis (models, minutes): queue it only.
    from jobs import services as jobs

    send = jobs.send_job
    monkeypatch.setattr(jobs, "send_job", lambda job: None if job.kind == "synthesis" else send(job))
    # A raw WSGI app closes the database connection at every request (Django's test client avoids that);
    # keep the test's connection (and its transaction) open for the run.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
# The fixtures hold rows and a token that every generated case may use (each case's changes are rolled back).
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
def test_api_never_answers_with_a_server_error(case, admin_token, api_data):
    # Each request in its own savepoint, rolled back after its body is read: as in production, where every
    # request has its own transaction, a failed statement of one request can never poison the next one.
    with transaction.atomic():
        response = case.call(headers={"Authorization": admin_token})
        transaction.set_rollback(True)
    case.validate_response(response, checks=[not_a_server_error])
    if response.status_code >= 400:
        headers = {name.lower(): values for name, values in response.headers.items()}
        assert headers["content-type"][0].startswith("application/json"), response.text[:200]
        assert response.json()["message"], response.text

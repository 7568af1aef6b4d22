"""Schemathesis against the control API's own spec: no input makes it answer 5xx."""
import schemathesis
from hypothesis import settings
from schemathesis.checks import not_a_server_error

from mockserver import create_app

app = create_app({"TESTING": True})
schema = schemathesis.openapi.from_wsgi("/__admin/openapi.yaml", app)
schema.config.update(headers={"Authorization": "ODFHIR contract/contract"})


@schema.parametrize()
@settings(max_examples=25)
def test_control_api_never_answers_5xx(case):
    case.call_and_validate(checks=[not_a_server_error])

"""`make fuzz`: requests generated from the OpenAPI document, as a standard user and as an
admin. Every response must be documented (status, headers, body schema), none may be a server
error, and a request the schema forbids must be refused.

`positive_data_acceptance` (a request the schema allows must succeed) is left out: business
rules the schema cannot state refuse some of them, as documented (an expiry in the past, a
reserved e-mail domain). Each operation is tried as each caller.
"""

import sys

import pytest
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from schemathesis.core.result import Err
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.domains.base.authorization import Role
from tests.fuzz.conftest import Credentials

# Examples per operation and caller; raise it for a longer search.
EXAMPLES = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("role", list(Role))
def test_every_operation(
    fuzz_schema: BaseSchema,
    fuzz_credentials: Credentials,
    role: Role,
    capsys: pytest.CaptureFixture[str],
) -> None:
    headers = fuzz_credentials[role]
    sent = []
    failures = []
    operations = []
    for result in fuzz_schema.get_all_operations():
        if isinstance(result, Err):
            failures.append(f"an operation schemathesis cannot read: {result.err()}")
        else:
            operations.append(result.ok())
    for operation in operations:

        @EXAMPLES
        @given(case=operation.as_strategy())
        def send(case: Case) -> None:
            sent.append(case)
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        try:
            send()
        except Exception as error:  # every operation is tried; the failures are reported together
            failures.append(f"{operation.label} as {role}:\n{error}")
    with capsys.disabled():
        sys.stdout.write(f"\nfuzz as {role}: {len(sent)} requests, {len(operations)} operations\n")
    assert not failures, "\n\n".join(failures)
    assert len(sent) > len(operations), "every operation gets several requests"

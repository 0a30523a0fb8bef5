"""openapi.json, committed, is the API the code serves (app/scripts/openapi.py, make openapi)."""

import json
from pathlib import Path

import pytest

from app.scripts import openapi


def test_openapi_json_is_what_the_service_serves() -> None:
    assert openapi.DOCUMENT.is_file(), "openapi.json is missing: run make openapi and commit it"
    committed = json.loads(openapi.DOCUMENT.read_text(encoding="utf-8"))
    served = openapi.served()
    changes = "; ".join(openapi.changes(committed, served))
    assert committed == served, f"openapi.json is out of date ({changes}): run make openapi"


def test_errors_are_documented_as_they_are_sent() -> None:
    document = openapi.served()
    problem = {"schema": {"$ref": "#/components/schemas/Problem"}}
    errors = [
        (f"{method.upper()} {path} {status}", response)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if int(status) >= 400
    ]
    assert errors, "the document lists no error response"
    for where, response in errors:
        assert response["content"] == {"application/problem+json": problem}, where
        if where.endswith((" 429", " 503")):
            assert "Retry-After" in response["headers"], where


def test_the_document_does_not_depend_on_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = openapi.served()
    monkeypatch.setenv("PROJECT_NAME", "Somebody's local name")
    monkeypatch.setenv("SHOW_DOCS", "false")
    assert openapi.served() == before
    assert "version" not in before["info"]


def test_a_change_is_named_by_path_and_schema() -> None:
    committed = openapi.served()
    served = json.loads(json.dumps(committed))
    path = next(iter(served["paths"]))
    schema = next(iter(served["components"]["schemas"]))
    del served["paths"][path]
    served["paths"]["/api/v1/new"] = {}
    served["components"]["schemas"][schema] = {"type": "string"}
    assert set(openapi.changes(committed, served)) == {
        "added path /api/v1/new",
        f"removed path {path}",
        f"changed schema {schema}",
    }


def test_make_openapi_writes_and_checks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = tmp_path / "openapi.json"
    monkeypatch.setattr(openapi, "DOCUMENT", document)
    assert openapi.main(["--check"]) == 1
    assert "openapi.json is missing" in capsys.readouterr().err
    assert openapi.main([]) == 0
    assert openapi.main(["--check"]) == 0
    stale = json.loads(document.read_text(encoding="utf-8"))
    stale["paths"].pop(next(iter(stale["paths"])))
    document.write_text(json.dumps(stale), encoding="utf-8")
    assert openapi.main(["--check"]) == 1
    assert "out of date: run make openapi\n  added path" in capsys.readouterr().err


def test_other_components_and_parts_are_named_too() -> None:
    committed = openapi.served()
    served = json.loads(json.dumps(committed))
    served["components"]["securitySchemes"] = {"Added": {"type": "http", "scheme": "basic"}}
    served["info"]["title"] = "Renamed"
    found = openapi.changes(committed, served)
    assert "added securitySchemes Added" in found
    assert "changed info" in found

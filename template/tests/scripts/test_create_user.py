"""`make create-user`: creates the user, prints one JSON line, and explains failures."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command

from app.infrastructure.config import get_settings
from app.scripts.create_user import main
from tests.support.database import alembic_config


@pytest.fixture
def migrated_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh SQLite database, migrated, that the script reaches through DATABASE_URL."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'script.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("SECRET_KEY", "script-test-secret-0123456789abcdefghij")
    get_settings.cache_clear()
    command.upgrade(alembic_config(), "heads")
    yield url
    get_settings.cache_clear()


def test_creates_an_admin_and_prints_json(
    migrated_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--email", "Root@Example.com", "--role", "admin"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["email"] == "root@example.com"
    assert result["role"] == "admin"
    assert set(result) >= {"id", "email", "role"}


def test_an_existing_email_is_refused(
    migrated_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--email", "same@example.com"]) == 0
    assert main(["--email", "SAME@example.com"]) == 1
    assert "already exists" in capsys.readouterr().err


def test_an_invalid_email_is_refused(
    migrated_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--email", "nobody"]) == 2
    assert "invalid input: email" in capsys.readouterr().err


def test_an_unmigrated_database_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    get_settings.cache_clear()
    try:
        assert main(["--email", "a@example.com"]) == 1
    finally:
        get_settings.cache_clear()
    assert "make migrate" in capsys.readouterr().err

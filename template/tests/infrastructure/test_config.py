"""Settings: production refuses sample secrets, URLs get async drivers, lists split on commas."""

import re
import secrets
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from app.api import main
from app.infrastructure.config import SAMPLE_SECRET_KEY, Settings, get_settings
from tests.conftest import PRODUCTION_SETTINGS

STRONG_SECRET = "Xr4-kTq9wZ2m_Lb7vN1c-Hs8pYd3Jf6gQ0a"


def make(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


@pytest.mark.parametrize(
    "secret",
    [
        SAMPLE_SECRET_KEY,
        "too-short",
        " " * 32,
        "a" * 48,
        "ab" * 24,
        "0123" * 8,
        "password1234567890password1234567890",
        "abcdefghijklmnopqrstuvwxyz-Q8w!Z",
        SAMPLE_SECRET_KEY + "x",
    ],
    ids=[
        "sample",
        "short",
        "spaces",
        "one-character",
        "two-characters",
        "short-pattern",
        "repeated-stretch",
        "consecutive-characters",
        "sample-extended",
    ],
)
def test_production_refuses_a_guessable_secret_and_says_how_to_make_one(secret: str) -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY must be a random value") as refused:
        make(environment="production", secret_key=secret, **PRODUCTION_SETTINGS)
    assert "secrets.token_urlsafe(48)" in str(refused.value)


@pytest.mark.parametrize(
    # A drawn 32-digit hex key (one in about 9,000 such draws scores under the entropy bound,
    # and is refused: the message says to draw another), and a fresh key of the README's kind.
    "secret",
    ["9f2c4e71b08a5d36e1c7f4a29b6d03e8", secrets.token_urlsafe(48)],
    ids=["hex", "urlsafe"],
)
def test_production_accepts_generated_secrets(secret: str) -> None:
    assert make(environment="production", secret_key=secret, **PRODUCTION_SETTINGS).is_production


def test_the_server_stops_with_one_line_naming_invalid_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server builds the app when it imports app.api.main: invalid settings stop it with
    the reason on one line, not under a traceback of the import."""
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", SAMPLE_SECRET_KEY)
    for name, value in PRODUCTION_SETTINGS.items():  # all set: the secret is the one problem
        monkeypatch.setenv(name.upper(), ",".join(value) if isinstance(value, list) else value)
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as stopped:
            main._create_default_app()
    finally:
        get_settings.cache_clear()
    message = str(stopped.value)
    assert message.startswith("api: invalid settings: ")
    assert "SECRET_KEY must be a random value" in message
    assert "\n" not in message
    assert SAMPLE_SECRET_KEY not in message


def test_a_refused_setting_never_shows_its_value() -> None:
    """Start-up errors print before log redaction is set up: they name, never quote."""
    secret = "hunter2-" + secrets.token_urlsafe(24)
    with pytest.raises(ValidationError) as refused:
        make(secret_key=secret, database_url=f"mysql://user:{secret}@db/app")
    assert "DATABASE_URL" in str(refused.value)
    assert secret not in str(refused.value)
    assert secret[-22:] not in str(refused.value)


def test_production_accepts_a_strong_secret_and_hides_docs() -> None:
    production = {"environment": "production", "secret_key": STRONG_SECRET, **PRODUCTION_SETTINGS}
    settings = make(**production)
    assert settings.is_production
    assert settings.show_docs is False
    assert settings.json_logs is True
    assert make(**production, docs_enabled=True).show_docs


def test_the_sample_environment_file_is_valid_and_matches_the_defaults() -> None:
    sample = Path(__file__).resolve().parents[2] / ".env.sample"
    from_sample = Settings(_env_file=sample)
    assert from_sample.model_dump() == make().model_dump()


def test_the_sample_environment_file_lists_every_setting_and_compose_variable() -> None:
    root = Path(__file__).resolve().parents[2]
    listed = {
        line.split("=", 1)[0]
        for line in (root / ".env.sample").read_text().splitlines()
        if line and not line.startswith("#")
    }
    compose = (root / "docker-compose.yml").read_text()
    compose_variables = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", compose))
    assert compose_variables >= {"POSTGRES_PASSWORD"}
    assert listed == {name.upper() for name in Settings.model_fields} | compose_variables


def test_local_defaults_work_without_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    # The defaults, whatever the shell exports (the development container sets DATABASE_URL).
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    settings = make()
    assert settings.database_url.startswith("sqlite+aiosqlite://")
    assert settings.show_docs is True
    assert settings.json_logs is False


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@db/app", "postgresql+asyncpg://u:p@db/app"),
        ("postgres://u:p@db/app", "postgresql+asyncpg://u:p@db/app"),
        ("sqlite:///./x.db", "sqlite+aiosqlite:///./x.db"),
        ("postgresql+asyncpg://u:p@db/app", "postgresql+asyncpg://u:p@db/app"),
    ],
)
def test_database_urls_get_async_drivers(given: str, expected: str) -> None:
    assert make(database_url=given).database_url == expected


def test_unsupported_database_url_is_rejected() -> None:
    with pytest.raises(ValidationError, match="DATABASE_URL must be"):
        make(database_url="mysql://u:p@db/app")


def test_lists_come_from_comma_separated_environment_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example.com, https://b.example.com")
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.1")
    settings = make()
    assert settings.cors_origins == ["https://a.example.com", "https://b.example.com"]
    assert settings.trusted_proxies == ["10.0.0.1"]


def test_environment_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "staging")
    with pytest.raises(ValidationError, match="environment"):
        make()


@pytest.mark.parametrize(("given", "level"), [(" warning ", "WARNING"), ("warn", "WARN")])
def test_the_log_level_is_one_logging_knows(
    monkeypatch: pytest.MonkeyPatch, given: str, level: str
) -> None:
    monkeypatch.setenv("LOG_LEVEL", given)
    assert make().log_level == level
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    with pytest.raises(ValidationError, match=r"log_level\n.* one of .*DEBUG"):
        make()

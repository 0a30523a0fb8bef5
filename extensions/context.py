"""Jinja extensions of the template: helpers for questions and names derived from answers.

`TemplateHelpers` adds the filters and globals the questions use (validators, defaults from
`git config`). `DerivedNames` adds values computed from the answers to the rendering context,
so templates never repeat the derivation.
"""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import unicodedata
from typing import Any

from copier.errors import UserMessageError
from copier_template_extensions import ContextHook
from jinja2 import Environment
from jinja2.ext import Extension

# copier.yml's validator of auth_api_keys says the same (T0 holds the two equal).
NO_AUTHENTICATION = (
    "auth_api_keys: at least one authentication method must be on (auth_clerk or auth_api_keys)."
)
# Per authentication answer: its module in app/api/auth/, the scheme a 401 names, and the kind
# of credential the rendered tests send (their `<kind>_headers` fixture).
AUTH_METHODS = {
    "auth_api_keys": ("api_key", 'APIKey header="X-API-Key"', "api_key"),
    "auth_clerk": ("clerk_session", "Bearer", "session_token"),
}
SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z0-9-]{2,}$")


def slugify(value: str) -> str:
    """Lowercase ASCII words joined by single hyphens, starting with a letter."""
    ascii_text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    slug = "-".join(words).lstrip("0123456789-")
    return slug or "service"


def is_slug(value: str) -> bool:
    return bool(SLUG_PATTERN.fullmatch(value))


def is_email(value: str) -> bool:
    return bool(EMAIL_PATTERN.fullmatch(value.strip()))


def is_printable_name(value: str) -> bool:
    return 1 <= len(value) <= 60 and value.isprintable() and bool(value.strip())


def py_string(value: str) -> str:
    """`value` as a Python string literal, quoted as ruff formats it: double quotes, unless the
    text holds double quotes and no single ones."""
    if '"' in value and "'" not in value and "\\" not in value:
        return f"'{value}'"
    return json.dumps(value)


def git_config(key: str) -> str:
    """Value of a `git config` key, or an empty string when git or the key is missing."""
    try:
        completed = subprocess.run(
            ["git", "config", "--get", key],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return completed.stdout.strip() if completed.returncode == 0 else ""


class TemplateHelpers(Extension):
    """Filters and globals available to questions and templates."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["slugify"] = slugify
        environment.filters["is_slug"] = is_slug
        environment.filters["is_email"] = is_email
        environment.filters["is_printable_name"] = is_printable_name
        environment.filters["py_string"] = py_string
        environment.globals["git_config"] = git_config


class DerivedNames(ContextHook):
    """Names computed once from the answers and shared by every template.

    Before the first file is rendered, it also refuses a project without any authentication
    method, whichever way the answers came: Copier runs validators for text prompts and for
    `--data` only, not for a yes/no prompt or for defaults from a settings file.
    """

    def hook(self, context: dict[str, Any]) -> None:
        slug = context.get("project_slug")
        if not isinstance(slug, str):
            return  # questions are still being asked
        if str(context.get("_copier_phase")) == "render" and not (
            context.get("auth_clerk") or context.get("auth_api_keys")
        ):
            raise UserMessageError(NO_AUTHENTICATION)
        context["project_snake"] = slug.replace("-", "_")
        # The credential modules of app/api/auth/, in the order they are tried.
        methods = [option for option in ("auth_api_keys", "auth_clerk") if context.get(option)]
        context["auth_modules"] = [AUTH_METHODS[option][0] for option in methods]
        # What a 401 names in WWW-Authenticate: the schemes this service accepts.
        context["authentication_challenges"] = [AUTH_METHODS[option][1] for option in methods]
        context["test_credentials"] = [AUTH_METHODS[option][2] for option in methods]
        context["python_tag"] = "py" + str(context.get("python_version", "3.13")).replace(".", "")
        context["current_year"] = datetime.date.today().year

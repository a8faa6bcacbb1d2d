"""The auth package's exported surface: sorted, documented, one error tree, light import."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest

from tta_dev_integrations import auth
from tta_dev_integrations.auth import errors
from tta_dev_primitives import TTAError

MODULES = [
    "tta_dev_integrations.auth",
    "tta_dev_integrations.auth.auth0",
    "tta_dev_integrations.auth.claims",
    "tta_dev_integrations.auth.clerk",
    "tta_dev_integrations.auth.errors",
    "tta_dev_integrations.auth.headers",
    "tta_dev_integrations.auth.jwks",
    "tta_dev_integrations.auth.jwt",
    "tta_dev_integrations.auth.keys",
    "tta_dev_integrations.auth.principal",
    "tta_dev_integrations.auth.token",
]


@pytest.mark.parametrize("module_name", MODULES)
def test_all_is_sorted_resolvable_and_documented(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert inspect.getdoc(module)
    names = list(module.__all__)
    assert names == sorted(names, key=lambda n: (not n.isupper(), not n[:1].isupper(), n))
    for name in names:
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{module_name}.{name} has no docstring"


def test_the_facade_exports_the_primitives_and_every_error() -> None:
    assert {"JWTPrimitive", "Auth0Primitive", "ClerkPrimitive", "Principal"} <= set(auth.__all__)
    assert set(errors.__all__) <= set(auth.__all__)


def test_every_error_is_an_auth_error_and_drawn_in_the_tree() -> None:
    tree = inspect.getdoc(errors) or ""
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.AuthError)
        assert issubclass(cls, TTAError)
        assert f" {name} " in tree.replace("\n", " "), f"{name} is missing from the tree"
        assert cls.status_code in (401, 403, 503)


def test_importing_auth_loads_no_http_client() -> None:
    code = "import sys, tta_dev_integrations.auth; print('httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

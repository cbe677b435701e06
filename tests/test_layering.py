"""The pure core imports no I/O library, and the code passes ruff (lint as a test)."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PURE_PACKAGES = ["radbill/policy", "radbill/billing", "radbill/sms", "radbill/importing", "radbill/validate.py",
                 "radbill/catalog_forms.py", "radbill/customer_forms.py", "radbill/spreadsheet.py"]
IO_MODULES = {
    "asyncpg", "psycopg", "psycopg2", "aiohttp", "requests", "httpx", "urllib.request", "socket", "subprocess",
    "radiusd", "pyrad", "apscheduler", "jinja2", "sqlite3", "asyncio", "threading", "http", "smtplib",
    "radbill.db", "radbill.services", "radbill.localenv", "radbill.cli", "radbill.runner", "radbill.supervise",
}


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def forbidden(name: str) -> bool:
    return any(name == bad or name.startswith(bad + ".") for bad in IO_MODULES)


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_pure_core_imports_no_io(package):
    target = ROOT / package
    files = [target] if target.is_file() else sorted(target.rglob("*.py"))
    assert files, f"{package} has no modules"
    offenders = {f"{f.relative_to(ROOT)}: {name}" for f in files for name in imported_modules(f) if forbidden(name)}
    assert not offenders, "pure core imports an I/O library:\n" + "\n".join(sorted(offenders))


def test_checker_catches_an_io_import(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text("import os\nfrom asyncpg import connect\n")
    assert {n for n in imported_modules(sample) if forbidden(n)} == {"asyncpg"}


def test_ruff_passes():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    assert ruff, "ruff is not installed in the venv"
    result = subprocess.run([ruff, "check", "--quiet", str(ROOT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def conftest_imports(path: Path) -> set[str]:
    """Modules named conftest that `path` imports (absolute or relative)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if alias.name.rsplit(".", 1)[-1] == "conftest")
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            if module.rsplit(".", 1)[-1] == "conftest":
                names.add(module)
            joiner = "" if module.endswith(".") else "."
            names.update(module + joiner + alias.name for alias in node.names if alias.name == "conftest")
    return names


def test_tests_share_helpers_through_modules_not_conftests():
    # a conftest is pytest's to load: importing one re-registers its fixtures in the importer and hides where they
    # come from. Helpers live in tests/support, shared fixtures in tests/fixtures (pytest_plugins of tests/conftest.py)
    offenders = {f"{f.relative_to(ROOT)}: {name}" for f in sorted((ROOT / "tests").rglob("*.py"))
                 for name in conftest_imports(f)}
    assert not offenders, "imports from a conftest (use tests/support or tests/fixtures):\n" + "\n".join(
        sorted(offenders))


def test_checker_catches_a_conftest_import(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text("import tests.radius.conftest\nfrom tests.admin.conftest import tree\nfrom .. import conftest\n"
                      "from .conftest import x\nfrom tests.support.admin import PASSWORD\n")
    assert conftest_imports(sample) == {"tests.radius.conftest", "tests.admin.conftest", "..conftest", ".conftest"}

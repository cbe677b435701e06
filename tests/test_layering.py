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

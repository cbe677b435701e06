"""The translation toolchain (`make messages`): extract the .pot catalogs with Babel, update the bn .po files.

Two catalogs, so the people translating each can work at the same time: templates.pot (the admin's jinja
templates and the receipt/invoice PDFs, babel-templates.cfg) and python.pot (messages in the Python sources,
babel-python.cfg). radbill.i18n reads every .po at start; there are no compiled .mo files in the tree.
`python -m radbill.catalogs [templates|python ...]` extracts and updates; tests extract into a temporary folder
to check that the committed .pot files are current.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.frontend import CommandLineInterface

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "radbill" / "locale"
DOMAINS = ("templates", "python")
TRANSLATED = ("bn",)
KEYWORDS = ("_", "gettext", "ngettext:1,2", "lazy_gettext")


def _sources(domain: str) -> list[str]:
    names = ("admin", "portal", "radbill") if domain == "templates" else ("radbill", "admin", "scheduler", "portal")
    return [name for name in names if (ROOT / name).is_dir()]


def _pybabel(*args: str) -> None:
    status = CommandLineInterface().run(["pybabel", "-q", *args])
    if status:
        raise RuntimeError(f"pybabel {args[0]} failed ({status})")


def extract(domain: str, output: Path) -> Path:
    """Write the .pot of `domain` to `output` (no line numbers, sorted: a re-run changes nothing but the date)."""
    keywords = [arg for keyword in KEYWORDS for arg in ("-k", keyword)]
    _pybabel("extract", "-F", str(ROOT / f"babel-{domain}.cfg"), "--no-default-keywords", *keywords,
             "--no-location", "--sort-output", "--no-wrap", "--project", "radbill", "-o", str(output),
             *[str(ROOT / source) for source in _sources(domain)])  # babel-*.cfg patterns are relative to these
    return output


def update(domain: str) -> None:
    """Bring each translation of `domain` up to the .pot: new messages arrive untranslated (never a guessed
    "fuzzy" one, which radbill would show); messages no longer in the sources are dropped."""
    pot = LOCALE_DIR / f"{domain}.pot"
    for locale in TRANSLATED:
        po = LOCALE_DIR / locale / "LC_MESSAGES" / f"{domain}.po"
        if po.exists():
            _pybabel("update", "--no-fuzzy-matching", "--ignore-obsolete", "--no-wrap", "-l", locale,
                     "-D", domain, "-i", str(pot), "-o", str(po))
        else:
            po.parent.mkdir(parents=True, exist_ok=True)
            _pybabel("init", "--no-wrap", "-l", locale, "-D", domain, "-i", str(pot), "-o", str(po))


def main(argv: list[str]) -> int:
    for domain in argv or DOMAINS:
        if domain not in DOMAINS:
            print(f"unknown catalog {domain!r}: use one of {', '.join(DOMAINS)}", file=sys.stderr)
            return 2
        extract(domain, LOCALE_DIR / f"{domain}.pot")
        update(domain)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

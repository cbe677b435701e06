"""Find user-visible template text that is not marked for translation (used by tests/test_i18n.py).

Each template is read with jinja's own lexer: its `data` tokens (the HTML between tags) are put back together with
every jinja construct replaced by a letter-free marker, then an HTML parser collects text nodes and the attributes
people see or hear (placeholder, title, aria-label, alt, a button's value). Any of those with letters left is a
string outside `_()` / `{% trans %}`. Inside expressions, a word-bearing string literal that is not the argument
of `_()` is also reported, as is the label of the `field()` macro.
"""

from __future__ import annotations

import ast
import re
from html.parser import HTMLParser
from pathlib import Path

import jinja2

MARK = "\x00"
VISIBLE_ATTRIBUTES = {"placeholder", "title", "aria-label", "alt"}
# text that is the same in every language: the product's name, protocol names, symbols
EXCEPTIONS = {"radbill", "PPPoE", "MAC", "IP", "NAS", "RADIUS", "ID", "SMS", "VAT", "CSV", "PDF", "bKash", "TOTP",
              "OK", "URL", "API", "IPv4", "IPv6", "Mbps", "kbps", "MB", "GB", "KB", "MikroTik", "WhatsApp",
              "Access-Accept", "Access-Reject"}
_LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)
_ENTITY = re.compile(r"&[#\w]+;")
_WORDS = re.compile(r"[A-Za-z]{2,}\s+[A-Za-z]{2,}")
_CAPITALISED = re.compile(r"^[A-Z][a-z]")
_TRANSLATING = {"_", "gettext", "ngettext", "lazy_gettext", "trans", "pluralize"}


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        values = dict(attrs)
        for name, value in attrs:
            if value and (name in VISIBLE_ATTRIBUTES or (name == "value" and values.get("type") in ("submit",
                                                                                                    "button"))):
                self.found.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.found.append(data)


def _needs_translation(text: str) -> bool:
    text = _ENTITY.sub(" ", text.replace(MARK, " "))
    words = [w for w in re.split(r"[\s·|:,.()/\-–—→←☰#%]+", text) if w]
    return any(_LETTERS.search(w) and w not in EXCEPTIONS for w in words)


def _expression_problems(tokens: list[tuple[str, str]]) -> list[str]:
    """Word-bearing literals in {{ }} / {% %} not passed to _(), and field() labels not passed to _()."""
    problems = []
    calls: list[str] = []  # the callable of each open parenthesis ('' for a plain group)
    commas: list[int] = []
    previous = ("", "")
    for kind, value in tokens:
        if kind == "operator" and value == "(":
            calls.append(previous[1] if previous[0] == "name" else "")
            commas.append(0)
        elif kind == "operator" and value == ")" and calls:
            calls.pop()
            commas.pop()
        elif kind == "operator" and value == "," and commas:
            commas[-1] += 1
        elif kind == "string":
            inside = calls[-1] if calls else ""
            marked = inside in _TRANSLATING and (commas[-1] == 0 or inside == "ngettext" and commas[-1] == 1)
            if not marked and (_WORDS.search(value) or _CAPITALISED.match(value) and value not in EXCEPTIONS
                                               or (inside == "field" and commas[-1] == 1)):
                problems.append(value)
        previous = (kind, value)
    return problems


def untranslated(path: Path, env: jinja2.Environment) -> list[str]:
    """Every piece of user-visible text in the template at `path` that is not marked for translation."""
    source = path.read_text()
    pieces: list[str] = []
    expression: list[tuple[str, str]] = []
    problems: list[str] = []
    in_trans = False
    for _lineno, kind, value in env.lex(source):
        if kind == "data":
            pieces.append(MARK if in_trans else value)
            continue
        pieces.append(MARK)
        if kind == "whitespace":
            continue
        if kind == "string":
            value = ast.literal_eval(value)  # the lexer keeps a literal's quotes
        if kind == "name" and value == "trans" and expression and expression[-1] == ("block_begin", ""):
            in_trans = True
        if kind == "name" and value == "endtrans":
            in_trans = False
        if kind in ("variable_end", "block_end"):
            problems += _expression_problems(expression)
            expression = []
        elif kind in ("variable_begin", "block_begin"):
            expression = [(kind, "")]
        else:
            expression.append((kind, value))
    collector = _Collector()
    collector.feed("".join(pieces))
    collector.close()
    # shown with each jinja construct as {…}, so a report reads like the template
    problems += [re.sub(MARK + "+", "{…}", text).strip() for text in collector.found if _needs_translation(text)]
    return problems

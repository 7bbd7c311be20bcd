"""A small SOQL tokenizer and recursive-descent parser (no eval, no regular-expression soup).

It understands the shapes leadscore and simple-salesforce's ``format_soql`` produce::

    SELECT Id, Email, Account.Name FROM Contact
    WHERE (SystemModstamp > 2024-01-01T00:00:00+00:00 OR Email LIKE '%\\_x%')
      AND Status IN ('Open', 'Working') AND NOT IsConverted = true
    ORDER BY SystemModstamp ASC NULLS FIRST, Id LIMIT 500 OFFSET 10

plus ``SELECT COUNT() FROM ...`` and ``COUNT(field)``. Like Salesforce, it rejects a WHERE
clause that mixes AND and OR at one level without parentheses. Failures raise
:class:`~sandbox.salesforce.errors.ApiError` with the real ``MALFORMED_QUERY`` body, including
the caret-and-position text Salesforce prints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .errors import ApiError, malformed_query

__all__ = [
    "And", "Compare", "Count", "FieldRef", "In", "Like", "Literal", "Not", "Or", "OrderItem",
    "Query", "Token", "error_at", "parse", "tokenize",
]

KEYWORDS = frozenset({
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC",
    "NULLS", "FIRST", "LAST", "LIMIT", "OFFSET", "NULL", "TRUE", "FALSE", "COUNT", "INCLUDES",
    "EXCLUDES", "GROUP", "HAVING",
})
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
# Anchored, single-purpose patterns for the two literal forms that are awkward to scan by hand.
_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:?\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?![\dT])")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # ident | keyword | string | number | datetime | date | op | punct | eof
    value: str
    pos: int


@dataclass(frozen=True, slots=True)
class Literal:
    """A typed literal. ``value`` is str/float/int/bool/None, epoch ms for datetime."""

    kind: str  # string | number | boolean | null | datetime | date
    value: object
    text: str


@dataclass(frozen=True, slots=True)
class FieldRef:
    path: tuple[str, ...]  # ("Email",) or ("Account", "Name")
    pos: int = field(default=0, compare=False)  # where it starts in the text, for errors

    @property
    def text(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True, slots=True)
class Count:
    field: FieldRef | None
    alias: str | None = None


@dataclass(frozen=True, slots=True)
class Compare:
    field: FieldRef
    op: str  # = != < <= > >=
    value: Literal


@dataclass(frozen=True, slots=True)
class In:
    field: FieldRef
    values: tuple[Literal, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Like:
    field: FieldRef
    pattern: Literal


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Cond, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Cond, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Cond


Cond = Compare | In | Like | And | Or | Not


@dataclass(frozen=True, slots=True)
class OrderItem:
    field: FieldRef
    descending: bool = False
    nulls_last: bool | None = None  # None: Salesforce default (first for ASC, last for DESC)


@dataclass(slots=True)
class Query:
    select: list[FieldRef | Count]
    sobject: str
    where: Cond | None = None
    order: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None
    text: str = ""


def error_at(text: str, pos: int, message: str, code: str = "MALFORMED_QUERY") -> ApiError:
    """An error body with Salesforce's caret-under-the-position text."""
    line_start = text.rfind("\n", 0, pos) + 1
    row = text.count("\n", 0, pos) + 1
    col = pos - line_start + 1
    line_end = text.find("\n", pos)
    line = text[line_start: None if line_end < 0 else line_end]
    text = f"\n{line}\n{' ' * (col - 1)}^\nERROR at Row:{row}:Column:{col}\n{message}"
    return malformed_query(text) if code == "MALFORMED_QUERY" else ApiError(400, code, text)


def tokenize(text: str) -> list[Token]:
    """Split SOQL into tokens; string escapes are decoded here."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == "'":
            start, i, out = i, i + 1, []
            while True:
                if i >= n:
                    raise error_at(text, start, "unterminated string literal")
                c = text[i]
                if c == "\\":
                    nxt = text[i + 1] if i + 1 < n else ""
                    if nxt in _ESCAPES:
                        out.append(_ESCAPES[nxt])
                    elif nxt in ("%", "_"):
                        out.append("\\" + nxt)  # kept escaped: meaningful to LIKE only
                    else:
                        raise error_at(text, i, "Invalid string literal: illegal escape sequence")
                    i += 2
                elif c == "'":
                    i += 1
                    break
                else:
                    out.append(c)
                    i += 1
            tokens.append(Token("string", "".join(out), start))
        elif ch.isdigit() or (ch == "-" and i + 1 < n and text[i + 1].isdigit()):
            for kind, pattern in (("datetime", _DATETIME), ("date", _DATE), ("number", _NUMBER)):
                m = pattern.match(text, i)
                if m:
                    tokens.append(Token(kind, m.group(), i))
                    i = m.end()
                    break
            else:  # pragma: no cover - _NUMBER always matches here
                raise error_at(text, i, "unexpected character")
        elif ch.isalpha() or ch == "_":
            start = i
            while i < n and (text[i].isalnum() or text[i] in "_."):
                i += 1
            word = text[start:i]
            kind = "keyword" if word.upper() in KEYWORDS else "ident"
            tokens.append(Token(kind, word.upper() if kind == "keyword" else word, start))
        elif text.startswith(("!=", "<>", "<=", ">="), i):
            op = text[i:i + 2]
            tokens.append(Token("op", "!=" if op == "<>" else op, i))
            i += 2
        elif ch in "=<>":
            tokens.append(Token("op", ch, i))
            i += 1
        elif ch in "(),":
            tokens.append(Token("punct", ch, i))
            i += 1
        else:
            raise error_at(text, i, f"unexpected token: '{ch}'")
    tokens.append(Token("eof", "<EOF>", n))
    return tokens


def _parse_datetime(text: str) -> int:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:  # pragma: no cover - the pattern requires an offset
        value = value.replace(tzinfo=timezone.utc)
    return int(value.timestamp() * 1000)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    # -- token helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def fail(self, message: str | None = None) -> ApiError:
        tok = self.tok
        shown = tok.value if tok.kind in ("eof",) else f"'{tok.value}'"
        if tok.kind == "eof":
            shown = "<EOF>"
        return error_at(self.text, tok.pos, message or f"unexpected token: {shown}")

    def accept(self, kind: str, value: str | None = None) -> Token | None:
        tok = self.tok
        if tok.kind == kind and (value is None or tok.value == value):
            self.i += 1
            return tok
        return None

    def expect(self, kind: str, value: str | None = None) -> Token:
        tok = self.accept(kind, value)
        if tok is None:
            raise self.fail()
        return tok

    # -- grammar
    def query(self) -> Query:
        self.expect("keyword", "SELECT")
        select = [self.select_item()]
        while self.accept("punct", ","):
            select.append(self.select_item())
        self.expect("keyword", "FROM")
        sobject = self.expect("ident").value
        q = Query(select=select, sobject=sobject, text=self.text)
        if self.accept("keyword", "WHERE"):
            q.where = self.condition()
        if self.accept("keyword", "ORDER"):
            self.expect("keyword", "BY")
            q.order.append(self.order_item())
            while self.accept("punct", ","):
                q.order.append(self.order_item())
        if self.accept("keyword", "LIMIT"):
            q.limit = self.non_negative_int()
        if self.accept("keyword", "OFFSET"):
            q.offset = self.non_negative_int()
        if self.tok.kind != "eof":
            raise self.fail()
        if any(isinstance(s, Count) for s in select) and len(select) > 1:
            raise error_at(self.text, 0, "COUNT() cannot be combined with other fields "
                                       "without GROUP BY")
        return q

    def non_negative_int(self) -> int:
        tok = self.expect("number")
        if not tok.value.isdigit():
            raise error_at(self.text, tok.pos, f"unexpected token: '{tok.value}'")
        return int(tok.value)

    def field_ref(self) -> FieldRef:
        tok = self.expect("ident")
        return FieldRef(tuple(tok.value.split(".")), tok.pos)

    def select_item(self) -> FieldRef | Count:
        if self.accept("keyword", "COUNT"):
            self.expect("punct", "(")
            target = None if self.tok.kind == "punct" else self.field_ref()
            self.expect("punct", ")")
            alias = self.accept("ident")
            return Count(target, alias.value if alias else None)
        return self.field_ref()

    def order_item(self) -> OrderItem:
        ref = self.field_ref()
        descending = bool(self.accept("keyword", "DESC"))
        if not descending:
            self.accept("keyword", "ASC")
        nulls_last = None
        if self.accept("keyword", "NULLS"):
            if self.accept("keyword", "FIRST"):
                nulls_last = False
            else:
                self.expect("keyword", "LAST")
                nulls_last = True
        return OrderItem(ref, descending, nulls_last)

    def condition(self) -> Cond:
        first = self.unary()
        joiner = self.tok.value if self.tok.kind == "keyword" and \
            self.tok.value in ("AND", "OR") else None
        if joiner is None:
            return first
        items = [first]
        while self.tok.kind == "keyword" and self.tok.value in ("AND", "OR"):
            if self.tok.value != joiner:
                raise self.fail("unexpected token: '" + self.tok.value + "' (use parentheses "
                                "when mixing AND and OR)")
            self.i += 1
            items.append(self.unary())
        return And(tuple(items)) if joiner == "AND" else Or(tuple(items))

    def unary(self) -> Cond:
        if self.accept("keyword", "NOT"):
            return Not(self.unary())
        if self.accept("punct", "("):
            inner = self.condition()
            self.expect("punct", ")")
            return inner
        return self.predicate()

    def predicate(self) -> Cond:
        ref = self.field_ref()
        tok = self.tok
        if tok.kind == "op":
            self.i += 1
            return Compare(ref, tok.value, self.literal())
        if self.accept("keyword", "LIKE"):
            pattern = self.literal()
            if pattern.kind != "string":
                raise error_at(self.text, tok.pos, "LIKE needs a string literal")
            return Like(ref, pattern)
        negated = False
        if self.accept("keyword", "NOT"):
            negated = True
            if self.tok.kind != "keyword" or self.tok.value != "IN":
                raise self.fail()
        if self.accept("keyword", "IN"):
            self.expect("punct", "(")
            values = [self.literal()]
            while self.accept("punct", ","):
                values.append(self.literal())
            self.expect("punct", ")")
            return In(ref, tuple(values), negated)
        raise self.fail()

    def literal(self) -> Literal:
        tok = self.tok
        self.i += 1
        if tok.kind == "string":
            return Literal("string", tok.value, tok.value)
        if tok.kind == "number":
            number: float | int = float(tok.value) if "." in tok.value else int(tok.value)
            return Literal("number", number, tok.value)
        if tok.kind == "datetime":
            try:
                return Literal("datetime", _parse_datetime(tok.value), tok.value)
            except ValueError:
                self.i -= 1
                raise self.fail(f"line 1:{tok.pos} no viable alternative at character "
                                f"'{tok.value}'") from None
        if tok.kind == "date":
            return Literal("date", tok.value, tok.value)
        if tok.kind == "keyword" and tok.value in ("TRUE", "FALSE"):
            return Literal("boolean", tok.value == "TRUE", tok.value.lower())
        if tok.kind == "keyword" and tok.value == "NULL":
            return Literal("null", None, "null")
        self.i -= 1
        raise self.fail()


def parse(text: str) -> Query:
    """Parse one SOQL statement or raise the ``MALFORMED_QUERY`` ApiError."""
    return _Parser(text).query()

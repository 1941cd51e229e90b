"""Where keys are: the line of every table and key in a TOML text, for error messages."""

from __future__ import annotations


class _TomlLines:
    """The line of every table header and key in a TOML text (tomllib reports none).

    A small scanner that follows strings (all four kinds, multi-line ones
    included), comments and brackets, so text inside a string or a multi-line
    array is never taken for a key.
    """

    def __init__(self, text: str) -> None:
        self.tables: dict[tuple[str, int], int] = {}
        self.keys: dict[tuple[str, int, str], int] = {}
        counts: dict[str, int] = {}
        table: tuple[str, int] = ("", -1)
        in_string: str | None = None  # the closing quotes of an open multi-line string
        depth = 0
        for number, line in enumerate(text.splitlines(), start=1):
            if in_string is None and depth == 0:
                stripped = line.strip()
                if stripped.startswith("[["):
                    name = _dotted_name(stripped[2 : _closing(stripped, "]]")])
                    index = counts.get(name, 0)
                    counts[name] = index + 1
                    table = (name, index)
                    self.tables.setdefault(table, number)
                    continue
                if stripped.startswith("["):
                    table = (_dotted_name(stripped[1 : _closing(stripped, "]")]), -1)
                    self.tables.setdefault(table, number)
                    continue
                key_end = _closing(stripped, "=")
                if stripped and not stripped.startswith("#") and key_end < len(stripped):
                    key = _dotted_name(stripped[:key_end])
                    self.keys.setdefault((*table, key), number)
                    self.keys.setdefault((*table, key.split(".")[0]), number)
                    in_string, depth = _scan_value(stripped[key_end + 1 :], in_string, depth)
                    continue
            in_string, depth = _scan_value(line, in_string, depth)

    def line_of(self, table: str = "", index: int = -1, key: str | None = None) -> int:
        """The line defining ``key`` in ``table`` (entry ``index`` of an array of tables), else the table's."""
        if key is not None and (table, index, key) in self.keys:
            return self.keys[(table, index, key)]
        if (table, index) in self.tables:
            return self.tables[(table, index)]
        if table and ("", -1, table) in self.keys:  # an inline table: `print = {preset = "..."}`
            return self.keys[("", -1, table)]
        return 1


def _closing(text: str, token: str) -> int:
    """The position of ``token`` outside quotes in ``text`` (len(text) when absent)."""
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\" and quote == '"':
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif text.startswith(token, i):
            return i
        i += 1
    return len(text)


def _dotted_name(text: str) -> str:
    """``a . "b c"`` -> ``a.b c``: a TOML key or table name with quotes and spaces removed."""
    parts, part, quote = [], "", ""
    for ch in text.strip():
        if quote:
            if ch == quote:
                quote = ""
            else:
                part += ch
        elif ch in "\"'":
            quote = ch
        elif ch == ".":
            parts.append(part.strip())
            part = ""
        else:
            part += ch
    parts.append(part.strip())
    return ".".join(parts)


def _scan_value(line: str, in_string: str | None, depth: int) -> tuple[str | None, int]:
    """Follow strings, comments and brackets through one line; return the state at its end."""
    i = 0
    while i < len(line):
        if in_string is not None:
            end = line.find(in_string, i)
            while end > 0 and in_string == '"""' and _escaped(line, end):
                end = line.find(in_string, end + 1)
            if end < 0:
                return in_string, depth
            i = end + 3
            in_string = None
            continue
        ch = line[i]
        if ch == "#":
            break
        if line.startswith('"""', i) or line.startswith("'''", i):
            in_string = line[i : i + 3]
            i += 3
            continue
        if ch in "\"'":
            i = _skip_string(line, i)
            continue
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth = max(0, depth - 1)
        i += 1
    return in_string, depth


def _escaped(line: str, position: int) -> bool:
    """True when the character at ``position`` follows an odd number of backslashes."""
    count = 0
    while position - count - 1 >= 0 and line[position - count - 1] == "\\":
        count += 1
    return count % 2 == 1


def _skip_string(line: str, start: int) -> int:
    """The position after the single-line string that opens at ``start``."""
    quote = line[start]
    i = start + 1
    while i < len(line):
        if line[i] == quote and (quote == "'" or not _escaped(line, i)):
            return i + 1
        i += 1
    return len(line)

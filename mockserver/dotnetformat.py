""".NET custom date and time format strings (DateFormatString, DateTimeFormatString):
``dd/MM/yyyy HH:mm:ss zzz`` and the like, as Open Dental's answers use them."""
from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta
from typing import Callable

# a datetime and the office's UTC offset -> its text
Formatter = Callable[[datetime, timedelta], str]

_DOTNET_PARTS = re.compile(r"'[^']*'|\"[^\"]*\"|\\.|([A-Za-z])\1*|.", re.S)
_DOTNET_SPECIFIERS = set("dfFghHKmMstyz")  # letters .NET treats as format specifiers


def _offset(offset: timedelta, digits: str) -> str:
    """The UTC offset as .NET's z (``-7``), zz (``-07``) or zzz (``-07:00``)."""
    minutes = int(offset.total_seconds()) // 60
    sign, minutes = ("-" if minutes < 0 else "+"), abs(minutes)
    hours = f"{minutes // 60:02d}" if digits != "z" else str(minutes // 60)
    return sign + hours + (f":{minutes % 60:02d}" if digits == "zzz" else "")


_DOTNET_TOKENS: dict[str, Formatter] = {
    "yyyy": lambda d, o: f"{d.year:04d}",  # not strftime: it does not pad year 1 on Linux
    "yy": lambda d, o: f"{d.year % 100:02d}",
    "MMMM": lambda d, o: calendar.month_name[d.month],  # English names, as in .NET's invariant culture
    "MMM": lambda d, o: calendar.month_abbr[d.month],
    "MM": lambda d, o: f"{d.month:02d}",
    "M": lambda d, o: str(d.month),
    "dddd": lambda d, o: calendar.day_name[d.weekday()],
    "ddd": lambda d, o: calendar.day_abbr[d.weekday()],
    "dd": lambda d, o: f"{d.day:02d}",
    "d": lambda d, o: str(d.day),
    "HH": lambda d, o: f"{d.hour:02d}",
    "H": lambda d, o: str(d.hour),
    "hh": lambda d, o: f"{(d.hour - 1) % 12 + 1:02d}",
    "h": lambda d, o: str((d.hour - 1) % 12 + 1),
    "mm": lambda d, o: f"{d.minute:02d}",
    "ss": lambda d, o: f"{d.second:02d}",
    "fff": lambda d, o: f"{d.microsecond // 1000:03d}",
    "ff": lambda d, o: f"{d.microsecond // 10000:02d}",
    "f": lambda d, o: str(d.microsecond // 100000),
    "tt": lambda d, o: "AM" if d.hour < 12 else "PM",
    "zzz": lambda d, o: _offset(o, "zzz"),
    "zz": lambda d, o: _offset(o, "zz"),
    "z": lambda d, o: _offset(o, "z"),
}


# The strings compile_format accepts, as one regex for the OpenAPI document: literals
# (quoted text, a quote that never closes, \x, a non-specifier character) and at least one
# token, each a maximal run of its letter. tests/test_openapi.py checks the two agree.
_FORMAT_TOKEN = (r"(?:yyyy(?!y)|yy(?!y)|M{1,4}(?!M)|d{1,4}(?!d)|HH?(?!H)|hh?(?!h)"
                 r"|mm(?!m)|ss(?!s)|f{1,3}(?!f)|tt(?!t)|z{1,3}(?!z))")
_FORMAT_LITERAL = (r"""(?:'[^']*'|"[^"]*"|'(?![^']*')|"(?![^"]*")"""
                   r"""|\\[\s\S]|\\$|[^'"\\dfFghHKmMstyz])""")
FORMAT_STRING_PATTERN = rf"^{_FORMAT_LITERAL}*{_FORMAT_TOKEN}(?:{_FORMAT_LITERAL}|{_FORMAT_TOKEN})*$"


def compile_format(pattern: str) -> Formatter:
    """A formatter for a .NET custom format such as ``dd/MM/yyyy HH:mm:ss zzz``.

    Raises ValueError naming the first unsupported specifier (``FFF``, ``K``...).
    Letters that are not .NET specifiers, quoted text and ``\\x`` are literal.
    """
    if not pattern:
        raise ValueError("an empty format")
    parts: list[str | Formatter] = []
    for m in _DOTNET_PARTS.finditer(pattern):
        text = m.group(0)
        if m.group(1) and m.group(1) in _DOTNET_SPECIFIERS:
            if text not in _DOTNET_TOKENS:
                raise ValueError(f"the unsupported token '{text}'")
            parts.append(_DOTNET_TOKENS[text])
        elif text[0] in "'\"":
            parts.append(text[1:-1])
        elif text[0] == "\\":
            parts.append(text[1:])
        else:
            parts.append(text)
    if all(isinstance(p, str) for p in parts):
        raise ValueError("no date or time token")
    return lambda d, o: "".join(p if isinstance(p, str) else p(d, o) for p in parts)

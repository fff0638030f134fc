"""HTML rendered as a mail client shows it: visible text, and text styled to be invisible.

Decisions:

* Hidden HTML text (``display:none``, ``visibility:hidden``, zero font size or opacity,
  far off-screen offsets, ``mso-hide:all``, text coloured like its background, the
  ``hidden`` attribute, ``<template>``) is kept apart from the visible text: padding a
  threat with invisible newsletter text must not dilute it, and invisible text written to
  fool filters is a finding in itself. Background colour is inherited; the page is taken
  to be white when no background is given.
* ``<noscript>`` content is visible: mail clients never run scripts, so they show it.
* Image ``alt`` text is visible: many clients block images by default and show the alt
  text instead, so extortion mail can put its words there.

The standard library parser is used: nothing is run or fetched.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser

__all__ = ["html_to_text", "render_html"]


_SKIP = frozenset({"script", "style", "head", "title", "object", "iframe", "svg", "math"})
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                   "param", "source", "track", "wbr"})
_BLOCK = frozenset({"address", "article", "aside", "blockquote", "br", "center", "dd", "div",
                    "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1",
                    "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol",
                    "p", "pre", "section", "table", "tbody", "td", "tfoot", "th", "thead",
                    "tr", "ul", "body", "html", "caption"})
# Start tags that close an open <p>, and elements that close an open one of their own kind,
# as browsers do: otherwise text after an unclosed hidden <p> would wrongly stay hidden.
_CLOSES_P = frozenset({"p", "div", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6",
                       "blockquote", "pre", "section", "article", "header", "footer", "hr"})
_SELF_CLOSING = {"li": {"li"}, "td": {"td", "th"}, "th": {"td", "th"}, "tr": {"tr"},
                 "dd": {"dd", "dt"}, "dt": {"dd", "dt"}, "option": {"option"}}
_HIDING_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*(?:hidden|collapse)|mso-hide\s*:\s*all"
    r"|(?<![\w-])font-size\s*:\s*0*(?:\.0+)?(?:[a-z%]+)?\s*(?:;|!|$)"
    r"|(?<![\w-])opacity\s*:\s*0*(?:\.0+)?\s*(?:;|!|$)"
    r"|(?<![\w-])(?:text-indent|left|top|margin-left|margin-top)\s*:\s*-\d{3,}",
    re.IGNORECASE,
)
_COLOR = re.compile(r"(?<![\w-])color\s*:\s*([^;!]+)", re.IGNORECASE)
_BACKGROUND = re.compile(r"(?<![\w-])background(?:-color)?\s*:\s*([^;!]+)", re.IGNORECASE)
_ENTITY = re.compile(r"&(?:#\d{1,7}|#x[0-9a-f]{1,6}|[a-z][a-z0-9]{1,31});", re.IGNORECASE)
_NAMED_COLORS = {"white": (255, 255, 255), "black": (0, 0, 0), "red": (255, 0, 0),
                 "green": (0, 128, 0), "blue": (0, 0, 255), "yellow": (255, 255, 0),
                 "gray": (128, 128, 128), "grey": (128, 128, 128), "silver": (192, 192, 192),
                 "whitesmoke": (245, 245, 245), "snow": (255, 250, 250), "ivory": (255, 255, 240)}
_WHITE = (255, 255, 255)
_RGB = re.compile(r"rgba?\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})")
_HEX = re.compile(r"#?([0-9a-f]{3}|[0-9a-f]{6})\b", re.IGNORECASE)
_RGBColor = tuple[int, int, int]


def _parse_color(value: str | None) -> _RGBColor | None:
    if not value:
        return None
    value = value.strip().lower()
    if value in _NAMED_COLORS:
        return _NAMED_COLORS[value]
    if match := _RGB.match(value):
        r, g, b = (min(int(x), 255) for x in match.groups())
        return (r, g, b)
    if (match := _HEX.match(value)) and (value.startswith("#") or len(value) in (3, 6)):
        digits = match.group(1)
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))
    return None


def _same_color(a: _RGBColor | None, b: _RGBColor | None) -> bool:
    return a is not None and b is not None and max(abs(x - y) for x, y in zip(a, b, strict=True)) <= 8


@dataclass(slots=True)
class _Element:
    tag: str
    hidden: bool
    skip: bool
    background: _RGBColor | None


class _Renderer(HTMLParser):
    """Visible and hidden text of an HTML document, tracked per open element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.visible: list[str] = []
        self.hidden: list[str] = []
        self.stack: list[_Element] = []

    def _top(self) -> _Element:
        return self.stack[-1] if self.stack else _Element("", False, False, _WHITE)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._implicit_close(tag)
        parent = self._top()
        values = {name: value or "" for name, value in attrs}
        style = values.get("style", "")
        background = (
            _parse_color(_last(_BACKGROUND, style)) or _parse_color(values.get("bgcolor"))
            or parent.background
        )
        color = _parse_color(_last(_COLOR, style)) or (
            _parse_color(values.get("color")) if tag == "font" else None
        )
        hidden = (
            parent.hidden
            or tag == "template"
            or "hidden" in values
            or bool(style and _HIDING_STYLE.search(style))
            or _same_color(color, background)
        )
        skip = parent.skip or tag in _SKIP
        if tag in _BLOCK:
            self._emit("\n", hidden, skip)
        if tag == "img" and values.get("alt"):
            self._emit(f" {values['alt']} ", hidden, skip)
        if tag not in _VOID:
            self.stack.append(_Element(tag, hidden, skip, background))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index].tag == tag:
                del self.stack[index:]
                break
        if tag in _BLOCK:
            top = self._top()
            self._emit("\n", top.hidden, top.skip)

    def handle_data(self, data: str) -> None:
        top = self._top()
        self._emit(data, top.hidden, top.skip)

    def _emit(self, text: str, hidden: bool, skip: bool) -> None:
        if not skip:
            (self.hidden if hidden else self.visible).append(text)

    def _implicit_close(self, tag: str) -> None:
        closes = {"p"} if tag in _CLOSES_P else _SELF_CLOSING.get(tag)
        if not closes:
            return
        # Only up to the nearest enclosing block that would contain it (a table cell, a list).
        for index in range(len(self.stack) - 1, max(-1, len(self.stack) - 64), -1):
            current = self.stack[index].tag
            if current in closes:
                del self.stack[index:]
                return
            if current in ("table", "ul", "ol", "dl", "td", "th", "div", "body", "blockquote"):
                return


def _last(pattern: re.Pattern[str], style: str) -> str | None:
    """The last declaration wins in CSS."""
    found = pattern.findall(style) if style else []
    return found[-1] if found else None


def render_html(source: str) -> tuple[str, str, bool]:
    """Visible text, hidden text, and whether entities were double-encoded."""
    renderer = _Renderer()
    try:
        renderer.feed(source)
        renderer.close()
    except Exception:  # HTMLParser is lenient, but hostile input must not escape
        return re.sub(r"<[^>]*>", " ", source), "", False
    visible = "".join(renderer.visible)
    hidden = "".join(renderer.hidden)
    double = False
    # "&amp;#118;" renders as the literal "&#118;": one more pass shows what was meant.
    # Only when the rendered text still holds entities, so a plain "&" is left alone.
    if _ENTITY.search(visible):
        visible, double = html.unescape(visible), True
    if _ENTITY.search(hidden):
        hidden = html.unescape(hidden)
    return visible, hidden, double


def html_to_text(source: str) -> str:
    """Visible text of an HTML document (hidden text left out)."""
    return render_html(source)[0]


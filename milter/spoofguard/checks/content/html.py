"""HTML rendered as a mail client shows it: visible text, and text styled to be invisible.

Decisions:

* Hidden HTML text (``display:none``, ``visibility:hidden``, zero font size or opacity,
  far off-screen offsets, ``mso-hide:all``, text coloured like its background, the
  ``hidden`` attribute, ``<template>``) is kept apart from the visible text: padding a
  threat with invisible newsletter text must not dilute it, and invisible text written to
  fool filters is a finding in itself. Background colour is inherited; the page is taken
  to be white when no background is given. A child can undo an inherited
  ``visibility:hidden`` or zero font size, as in a browser; it cannot undo ``display:none``.
* ``<noscript>`` content is visible: mail clients never run scripts, so they show it.
* Image ``alt`` text is visible: many clients block images by default and show the alt
  text instead, so extortion mail can put its words there.
* ``<style>`` blocks count: their rules (simple selectors: tag, ``.class``, ``#id`` and
  compounds of them, ``::before``/``::after``) can hide text, reverse it with
  ``unicode-bidi: bidi-override`` or generate it with ``content``. A rule with combinators
  or pseudo-classes may not apply, so it only ever adds generated text: it never hides or
  reverses what is written. A style block after the content it styles still applies: the
  document is then rendered a second time with the whole sheet.
* Text is laid out as a client lays it out: whitespace collapsed, a line per block, the
  cells of a table row on one line a space apart (so one letter per cell reads as the
  spaced-out word the folding in ``normalize`` rejoins), text under a bidi override
  reversed line by line.
* SVG ``<text>`` is visible. ``title`` attributes (tooltips) are visible, listed after the
  main text so that they do not split its sentences, and left out where they repeat the
  element's own text.

The standard library parser is used, and tinycss2 tokenises style sheets: nothing is run
or fetched. Work is bounded: the first 64 KB of style, 2,000 rules, a budget of selector
tests per document, 16 nested bidi overrides; every element closes in time linear in
what it closes.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser

import tinycss2

__all__ = ["html_to_text", "render_html"]


_SKIP = frozenset({"script", "style", "head", "title", "object", "iframe", "math"})
# Inside <svg> only <text> (and its <tspan>, <textPath>) is drawn; these are never drawn.
_SVG_SKIP = frozenset({"defs", "desc", "metadata", "symbol", "clippath", "mask", "pattern"})
# Elements whose content a browser reads as text, not markup: a <style> inside is no sheet.
_INERT = frozenset({"template", "title", "textarea", "iframe", "xmp", "noembed", "noframes"})
_HEAD = frozenset({"html", "head", "body", "meta", "link", "title", "style", "base"})
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                   "param", "source", "track", "wbr"})
_BLOCK = frozenset({"address", "article", "aside", "blockquote", "br", "center", "dd", "div",
                    "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1",
                    "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol",
                    "p", "pre", "section", "table", "tbody", "tfoot", "thead",
                    "tr", "ul", "body", "html", "caption"})
_CELLS = frozenset({"td", "th"})
_QUOTING = frozenset({"blockquote", "q"})
# Start tags that close an open <p>, and elements that close an open one of their own kind,
# as browsers do: otherwise text after an unclosed hidden <p> would wrongly stay hidden.
_CLOSES_P = frozenset({"p", "div", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6",
                       "blockquote", "pre", "section", "article", "header", "footer", "hr"})
_SELF_CLOSING = {"li": {"li"}, "td": {"td", "th"}, "th": {"td", "th"}, "tr": {"tr"},
                 "dd": {"dd", "dt"}, "dt": {"dd", "dt"}, "option": {"option"}}
_ENTITY = re.compile(r"&(?:#\d{1,7}|#x[0-9a-f]{1,6}|[a-z][a-z0-9]{1,31});", re.IGNORECASE)
_NAMED_COLORS = {"white": (255, 255, 255), "black": (0, 0, 0), "red": (255, 0, 0),
                 "green": (0, 128, 0), "blue": (0, 0, 255), "yellow": (255, 255, 0),
                 "gray": (128, 128, 128), "grey": (128, 128, 128), "silver": (192, 192, 192),
                 "whitesmoke": (245, 245, 245), "snow": (255, 250, 250), "ivory": (255, 255, 240)}
_WHITE = (255, 255, 255)
_RGB = re.compile(r"rgba?\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})")
_HEX = re.compile(r"#?([0-9a-f]{3}|[0-9a-f]{6})\b", re.IGNORECASE)
_RGBColor = tuple[int, int, int]

_ZERO = re.compile(r"[+-]?(?:0+(?:\.0*)?|\.0+)(?:[a-z]+|%)?")
_RELATIVE_SIZE = re.compile(r"%|(?<!r)em\b|ex\b|ch\b|^(?:smaller|larger|inherit)$")
_FAR_OFF = re.compile(r"-\d{3,}")
_OFFSETS = ("text-indent", "left", "top", "margin-left", "margin-top")
_OVERRIDES = frozenset({"bidi-override", "isolate-override"})
_COLLAPSIBLE = re.compile(r"[ \t\n\r\f]+")
_ALIASES = {"background": "background-color"}
# Presentational attributes, which any CSS overrides (SVG's are read inside <svg> only).
_SVG_ATTRIBUTES = ("fill", "display", "visibility", "opacity", "font-size")

_MAX_STYLE = 64 * 1024  # characters of <style> read per document
_MAX_RULES = 2000  # selectors kept per document
_MAX_MATCH_TESTS = 200_000  # selector tests per document; past it, only inline style counts
_MAX_CLASSES = 32  # of one element
_MAX_SELECTOR = 256  # characters
_MAX_BIDI_DEPTH = 16
_MAX_TITLES = 256
_CACHE_SIZE = 4096


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


# -- declarations and the cascade ----------------------------------------------------------------

_Declarations = dict[str, tuple[str, bool]]  # property -> (lower-case value, !important)


def _inline(style: str) -> _Declarations:
    """An inline ``style`` attribute; split by hand, as it is read for every element."""
    found: _Declarations = {}
    for item in style.split(";")[:64]:
        name, colon, value = item.partition(":")
        if colon:
            _declare(found, name.strip().lower(), value.strip().lower())
    return found


def _declare(found: _Declarations, name: str, value: str, important: bool = False) -> None:
    if value.endswith("important"):
        head, bang, _ = value.rpartition("!")
        if bang:
            value, important = head.strip(), True
    found[_ALIASES.get(name, name)] = (value, important)


def _cascade(layers: Iterable[_Declarations]) -> dict[str, str]:
    """Layers from weakest to strongest: a later one wins, unless the earlier was !important."""
    merged: _Declarations = {}
    for layer in layers:
        for name, (value, important) in layer.items():
            if important or not merged.get(name, ("", False))[1]:
                merged[name] = (value, important)
    return {name: value for name, (value, _) in merged.items()}


def _presentational(tag: str, values: Mapping[str, str], svg: bool) -> _Declarations:
    """What HTML attributes and the browser's own style sheet say, weaker than any CSS."""
    found: _Declarations = {}
    if bgcolor := values.get("bgcolor"):
        found["background-color"] = (bgcolor.lower(), False)
    if tag == "font" and (color := values.get("color")):
        found["color"] = (color.lower(), False)
    if "hidden" in values or tag == "template":
        found["display"] = ("none", False)
    if (direction := values.get("dir", "").lower()) in ("ltr", "rtl"):
        found["direction"] = (direction, False)
    if tag == "bdo":
        found["unicode-bidi"] = ("bidi-override", False)
    if tag in ("pre", "textarea"):
        found["white-space"] = ("pre", False)
    if svg:
        for name in _SVG_ATTRIBUTES:
            if value := values.get(name):
                found[name] = (value.lower(), False)
    return found


# -- what an element passes on -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _State:
    """The computed style an element's text is drawn with, and what its children inherit."""

    boxless: bool = False  # display:none: no box, no line breaks, nothing inside shows
    concealed: bool = False  # nothing inside can show again (also opacity 0, off-screen)
    invisible: bool = False  # visibility:hidden, which a child may undo
    tiny: bool = False  # zero font size, which a child may undo with an absolute size
    color: _RGBColor | None = None  # unknown until set: a default would hide dark newsletters
    background: _RGBColor = _WHITE
    rtl: bool = False
    pre: bool = False
    skip: bool = False  # not rendered at all (script, head)
    inert: bool = False  # inside an element whose content is text to the browser
    svg: bool = False
    svg_text: bool = False

    @property
    def hidden(self) -> bool:
        return self.concealed or self.invisible or self.tiny or _same_color(self.color, self.background)

    @property
    def mute(self) -> bool:
        """Character data that is not drawn: outside <text> in an SVG image."""
        return self.skip or (self.svg and not self.svg_text)


_ROOT = _State()


def _inherit(parent: _State, style: Mapping[str, str], tag: str) -> _State:
    """The state of a child of ``parent`` with cascaded ``style``."""
    boxless = parent.boxless or style.get("display") == "none"
    svg = (parent.svg or tag == "svg") and tag != "foreignobject"
    visibility = style.get("visibility")
    size = style.get("font-size")
    direction = style.get("direction")
    space = style.get("white-space")
    return _State(
        boxless=boxless,
        concealed=(
            parent.concealed or boxless or _is_zero(style.get("opacity"))
            or style.get("mso-hide") == "all"
            or any(_FAR_OFF.match(style.get(name, "")) for name in _OFFSETS)
        ),
        invisible=parent.invisible if visibility is None else visibility in ("hidden", "collapse"),
        tiny=parent.tiny if size is None else (
            _is_zero(size) or (parent.tiny and _RELATIVE_SIZE.search(size) is not None)
        ),
        color=_parse_color(style.get("fill" if svg else "color")) or parent.color,
        background=_parse_color(style.get("background-color")) or parent.background,
        rtl=parent.rtl if direction not in ("ltr", "rtl") else direction == "rtl",
        pre=parent.pre if space is None else space.startswith("pre"),
        skip=parent.skip or tag in _SKIP or (svg and tag in _SVG_SKIP),
        inert=parent.inert or tag in _INERT,
        svg=svg,
        svg_text=svg and (parent.svg_text or tag == "text"),
    )


def _is_zero(value: str | None) -> bool:
    return value is not None and _ZERO.fullmatch(value) is not None


def _box(tag: str, display: str | None) -> str:
    """How the element breaks the text around it: "block", "cell" or "inline"."""
    if display and display != "none":
        if display == "table-cell":
            return "cell"
        return "inline" if display.startswith("inline") or display == "contents" else "block"
    if tag in _CELLS or tag == "text":  # an SVG <text> is placed apart from its neighbours
        return "cell"
    return "block" if tag in _BLOCK else "inline"


# -- style sheets --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _AttrRef:
    """``attr(name)`` in generated content: the element's attribute value."""

    name: str


_Content = tuple[str | _AttrRef, ...]


@dataclass(frozen=True, slots=True)
class _Selector:
    tag: str | None
    id: str | None
    classes: frozenset[str]
    pseudo: str | None  # "before", "after" or None for the element itself
    exact: bool  # False when combinators, pseudo-classes or attributes were left out
    rank: tuple[int, int, int, int]  # specificity, then source order

    def matches(self, tag: str, element_id: str, classes: frozenset[str]) -> bool:
        return ((self.tag is None or self.tag == tag) and (self.id is None or self.id == element_id)
                and self.classes <= classes)

    @property
    def key(self) -> str:
        """The index entry: the most selective thing an element must have."""
        if self.id is not None:
            return "#" + self.id
        if self.classes:
            return "." + min(self.classes)
        return self.tag or "*"


@dataclass(frozen=True, slots=True)
class _Rule:
    selector: _Selector
    declarations: _Declarations
    content: _Content | None


@dataclass(frozen=True, slots=True)
class _Matched:
    """Rules that apply to one element, each list in cascade order."""

    layers: tuple[_Declarations, ...] = ()
    before: tuple[_Rule, ...] = ()
    after: tuple[_Rule, ...] = ()


_NO_MATCH = _Matched()
_COMBINATOR = re.compile(r"\s*[>+~]\s*|\s+")
_SIMPLE = re.compile(r"\*|[a-z][\w-]*|[.#][\w-]+|\[[^\]]*\]|::?[\w-]+(?:\([^)]*\))?", re.IGNORECASE)


def _selector(text: str, order: int) -> _Selector | None:
    """A selector reduced to its subject (the last compound), or None if it cannot be read."""
    text = text.strip()
    if not text or len(text) > _MAX_SELECTOR:
        return None
    compounds = _COMBINATOR.split(text)
    pieces = _SIMPLE.findall(compounds[-1])
    if "".join(pieces) != compounds[-1]:
        return None
    tag = element_id = pseudo = None
    classes: set[str] = set()
    exact = len(compounds) == 1
    others = 0
    for index, piece in enumerate(pieces):
        if pseudo is not None:
            return None  # nothing may follow a pseudo-element
        if index == 0 and piece[0] not in ".#[:":
            tag = None if piece == "*" else piece.lower()
        elif piece[0] == ".":
            classes.add(piece[1:])
        elif piece[0] == "#":
            element_id = piece[1:]
        elif piece.lstrip(":").lower() in ("before", "after"):
            pseudo = piece.lstrip(":").lower()
        elif piece[0] in "[:":
            exact, others = False, others + 1
        else:
            return None
    specificity = (int(element_id is not None), len(classes) + others, int(tag is not None) + int(pseudo is not None))
    return _Selector(tag, element_id, frozenset(classes), pseudo, exact, (*specificity, order))


def _content(tokens: list[tinycss2.ast.Node]) -> _Content:
    """The text a ``content`` value generates: strings, quotes and ``attr()``; counters,
    images and ``none`` generate nothing readable."""
    parts: list[str | _AttrRef] = []
    for token in tokens:
        if token.type == "string":
            parts.append(token.value)
        elif token.type == "ident" and token.lower_value in ("open-quote", "close-quote"):
            parts.append('"')
        elif token.type == "function" and token.lower_name == "attr":
            names = [a.lower_value for a in token.arguments if a.type == "ident"]
            if names:
                parts.append(_AttrRef(names[0]))
    return tuple(parts)


def _rule_blocks(css: str) -> Iterable[tinycss2.ast.QualifiedRule]:
    """Top-level rules, and those of ``@media`` blocks that apply to every screen."""
    for node in tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True):
        if node.type == "qualified-rule":
            yield node
        elif (node.type == "at-rule" and node.lower_at_keyword == "media" and node.content is not None
              and tinycss2.serialize(node.prelude).strip().lower() in ("", "all", "screen", "only screen")):
            for inner in tinycss2.parse_rule_list(node.content, skip_comments=True, skip_whitespace=True):
                if inner.type == "qualified-rule":
                    yield inner


def _declarations(block: tinycss2.ast.QualifiedRule) -> tuple[_Declarations, _Content | None]:
    found: _Declarations = {}
    content: _Content | None = None
    for item in tinycss2.parse_blocks_contents(block.content, skip_comments=True, skip_whitespace=True):
        if item.type != "declaration":
            continue
        if item.lower_name == "content":
            content = _content(item.value)
        else:
            _declare(found, item.lower_name, tinycss2.serialize(item.value).strip().lower(), item.important)
    return found, content


class _StyleSheet:
    """The rules of a document's ``<style>`` blocks, indexed by what an element must have."""

    def __init__(self) -> None:
        self.index: dict[str, list[_Rule]] = {}
        self.rules = 0
        self.size = 0
        self.budget = _MAX_MATCH_TESTS
        self.cache: dict[tuple[str, str, frozenset[str]], _Matched] = {}

    def add(self, css: str) -> None:
        css = css[: max(0, _MAX_STYLE - self.size)]
        self.size += len(css)
        self.cache.clear()
        for block in _rule_blocks(css):
            declarations, content = _declarations(block)
            if not declarations and content is None:
                continue
            for text in tinycss2.serialize(block.prelude).split(","):
                if self.rules >= _MAX_RULES:
                    return
                if selector := _selector(text, self.rules):
                    self.rules += 1
                    self.index.setdefault(selector.key, []).append(_Rule(selector, declarations, content))

    def match(self, tag: str, values: Mapping[str, str]) -> _Matched:
        if not self.index or self.budget <= 0:
            return _NO_MATCH
        element_id = values.get("id", "")
        classes = frozenset(values.get("class", "").split()[:_MAX_CLASSES])
        key = (tag, element_id, classes)
        if (cached := self.cache.get(key)) is None:
            if len(self.cache) >= _CACHE_SIZE:
                self.cache.clear()
            cached = self.cache[key] = self._match(tag, element_id, classes)
        return cached

    def _match(self, tag: str, element_id: str, classes: frozenset[str]) -> _Matched:
        keys = [tag, "*", *("." + c for c in classes)] + (["#" + element_id] if element_id else [])
        candidates = [rule for k in keys for rule in self.index.get(k, ())]
        self.budget -= len(candidates)
        found = sorted((r for r in candidates if r.selector.matches(tag, element_id, classes)),
                       key=lambda r: r.selector.rank)
        return _Matched(
            layers=tuple(r.declarations for r in found if r.selector.pseudo is None and r.selector.exact),
            before=tuple(r for r in found if r.selector.pseudo == "before"),
            after=tuple(r for r in found if r.selector.pseudo == "after"),
        )


# -- laying out text -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Run:
    parts: list[str]
    rtl: bool


class _Flow:
    """Text as a client lays it out: whitespace collapsed, a line per block, runs under a
    bidi override reversed."""

    def __init__(self) -> None:
        self.runs = [_Run([], False)]
        self.last = "\n"
        self.size = 0  # characters written, for positions in the final text

    def text(self, data: str, pre: bool = False) -> None:
        if CELL_EDGE in data and data != CELL_EDGE:
            data = data.replace(CELL_EDGE, "")
        if not pre:
            data = _COLLAPSIBLE.sub(" ", data)
            if data[:1] == " " and self.last in " \n":
                data = data[1:]
        if data:
            self.runs[-1].parts.append(data)
            self.last = data[-1]
            self.size += len(data)

    def line(self) -> None:
        if self.last != "\n":
            self.text("\n", pre=True)

    def gap(self) -> None:
        """A cell edge, marked so ``cell_rows`` can lay out the row once it is complete."""
        if self.last != "\n":
            self.text(CELL_EDGE, pre=True)

    def open_run(self, rtl: bool) -> bool:
        if len(self.runs) > _MAX_BIDI_DEPTH:
            return False
        self.runs.append(_Run([], rtl))
        return True

    def close_run(self) -> None:
        run = self.runs.pop()
        text = "".join(run.parts)
        if run.rtl != self.runs[-1].rtl:  # each change of direction reverses what it holds
            text = "\n".join(line[::-1] for line in text.split("\n"))
        if text:
            self.runs[-1].parts.append(text)
            self.last = text[-1]

    def value(self) -> str:
        while len(self.runs) > 1:
            self.close_run()
        return "".join(self.runs[0].parts)


@dataclass(slots=True)
class _Title:
    text: str
    start: int  # the element's own text, as positions in the visible text
    end: int = -1


@dataclass(slots=True)
class _Element:
    tag: str
    state: _State
    box: str
    run: bool = False  # opened a bidi run
    after: tuple[str, _State] | None = None
    title: _Title | None = None


@dataclass(slots=True)
class _Counts:
    """How many elements of each tag are open: an end tag with none open costs nothing."""

    open: dict[str, int] = field(default_factory=dict)

    def add(self, tag: str, delta: int) -> None:
        self.open[tag] = self.open.get(tag, 0) + delta


class _Renderer(HTMLParser):
    """Visible and hidden text of an HTML document, tracked per open element."""

    def __init__(self, sheet: str | None = None) -> None:
        super().__init__(convert_charrefs=True)
        self.visible = _Flow()
        self.hidden = _Flow()
        self.stack: list[_Element] = []
        self.counts = _Counts()
        self.sheet = _StyleSheet()
        self.collect = sheet is None  # a second pass is given the whole sheet up front
        if sheet is not None:
            self.sheet.add(sheet)
        self.styles: list[str] = []  # every <style> read, for a second pass
        self.style_chunks: list[str] = []
        self.started = False  # content seen: a <style> from here on styles what came before
        self.late_style = False
        self.titles: list[_Title] = []

    def _top(self) -> _Element:
        return self.stack[-1] if self.stack else _Element("", _ROOT, "block")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._implicit_close(tag)
        parent = self._top().state
        values: dict[str, str] = {}
        for name, value in attrs:
            values.setdefault(name, value or "")  # the first of a repeated attribute counts
        self.started = self.started or tag not in _HEAD
        if tag == "style" and self.collect and not parent.inert:
            self.late_style = self.late_style or self.started
            self.style_chunks = []
        matched = _NO_MATCH if parent.skip else self.sheet.match(tag, values)
        style = _cascade([_presentational(tag, values, parent.svg or tag == "svg"), *matched.layers,
                          _inline(values.get("style", ""))])
        state = _inherit(parent, style, tag)
        element = _Element(tag, state, _box(tag, style.get("display")))
        self._break(element.box, state)
        if not state.skip and style.get("unicode-bidi") in _OVERRIDES:
            element.run = self.visible.open_run(state.rtl)
        if values.get("title") and not state.skip:
            element.title = _Title(values["title"], self.visible.size)
        if tag in _VOID:
            if tag == "img" and values.get("alt"):
                # A one-letter alt sits in the line as a letter would (a row of them reads
                # as the word it spells, a blank one as the gap between words); longer
                # alt text stands apart from its neighbours.
                alt = values["alt"]
                self._emit(alt if len(alt.strip()) <= 1 else f" {alt} ", state)
            self._finish(element)
            return
        if tag in _QUOTING:
            self._emit(" \u201c", state)  # a quotation reads as one: see content.quotation
        self._generate(matched.before, values, state)
        element.after = _resolve(matched.after, values, state)
        self.stack.append(element)
        self.counts.add(tag, 1)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # "<div/>" opens a div in HTML; only SVG honours the self-closing slash.
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and self.stack and self.stack[-1].tag == tag and self.stack[-1].state.svg:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.counts.open.get(tag):
            for index in range(len(self.stack) - 1, -1, -1):
                if self.stack[index].tag == tag:
                    self._pop_to(index)
                    return
        if tag in _BLOCK:  # a stray </p> or </br> still breaks the line
            self._break("block", self._top().state)

    def handle_data(self, data: str) -> None:
        top = self._top()
        if top.tag == "style" and self.collect and not top.state.inert:
            self.style_chunks.append(data)
            return
        if not top.state.mute:
            self.started = self.started or not data.isspace()
            self._emit(data, top.state)

    def close(self) -> None:
        super().close()
        self._pop_to(0)

    def result(self) -> tuple[str, str]:
        """Visible text, titles appended, and hidden text."""
        visible = self.visible.value()
        shown = {_plain(visible[t.start:t.end]) for t in self.titles}
        extra: list[str] = []
        for title in self.titles:
            if (key := _plain(title.text)) and key not in shown:
                shown.add(key)
                extra.append(title.text.strip())
        if extra:
            visible += "\n" + "\n".join(extra)
        return cell_rows(visible), cell_rows(self.hidden.value())

    def _emit(self, text: str, state: _State) -> None:
        if not state.skip:
            (self.hidden if state.hidden else self.visible).text(text, state.pre)

    def _break(self, box: str, state: _State) -> None:
        """Line breaks and cell gaps; a box that is not displayed makes none in visible text."""
        if box == "inline" or state.skip:
            return
        for flow in (self.hidden,) if state.boxless else (self.visible, self.hidden):
            flow.line() if box == "block" else flow.gap()

    def _generate(self, rules: tuple[_Rule, ...], values: Mapping[str, str], state: _State) -> None:
        if generated := _resolve(rules, values, state):
            self._emit(*generated)

    def _finish(self, element: _Element) -> None:
        """Close an element: its ::after text, its bidi run, its line break, its tooltip."""
        if element.after:
            self._emit(*element.after)
        if element.tag in _QUOTING:
            self._emit("\u201d ", element.state)
        if element.run:
            self.visible.close_run()
        self._break(element.box, element.state)
        if element.title:
            self._add_title(element.title, element.state)
        if element.tag == "style" and self.collect and not element.state.inert:
            self._add_style("".join(self.style_chunks))

    def _add_title(self, title: _Title, state: _State) -> None:
        if state.hidden:
            self.hidden.line()
            self.hidden.text(title.text)
        elif len(self.titles) < _MAX_TITLES:
            title.end = self.visible.size
            self.titles.append(title)

    def _add_style(self, css: str) -> None:
        self.styles.append(css)
        if not self.late_style:  # a late sheet is applied by a second pass, to everything
            self.sheet.add(css)

    def _pop_to(self, index: int) -> None:
        while len(self.stack) > index:
            element = self.stack.pop()
            self.counts.add(element.tag, -1)
            self._finish(element)

    def _implicit_close(self, tag: str) -> None:
        closes = {"p"} if tag in _CLOSES_P else _SELF_CLOSING.get(tag)
        if not closes:
            return
        # Only up to the nearest enclosing block that would contain it (a table cell, a list).
        for index in range(len(self.stack) - 1, max(-1, len(self.stack) - 64), -1):
            current = self.stack[index].tag
            if current in closes:
                self._pop_to(index)
                return
            if current in ("table", "ul", "ol", "dl", "td", "th", "div", "body", "blockquote"):
                return


def _resolve(rules: tuple[_Rule, ...], values: Mapping[str, str], state: _State) -> tuple[str, _State] | None:
    """Generated ``::before``/``::after`` text and the state it is drawn with. A rule that
    may not apply still gives its text; only rules that surely apply can hide it."""
    content: _Content | None = None
    for rule in rules:
        if rule.content is not None:
            content = rule.content
    if not content:
        return None
    text = "".join(p if isinstance(p, str) else values.get(p.name, "") for p in content)
    style = _cascade(r.declarations for r in rules if r.selector.exact)
    return (text, _inherit(state, style, "")) if text else None


CELL_EDGE = "\x1f"
_EDGES = re.compile(r"[ \x1f]*\x1f[ \x1f]*")


def cell_rows(text: str) -> str:
    """Table rows as a reader sees them: cells a space apart, and a row of one letter per
    cell read as the words it spells, an empty cell being the gap between words."""
    if CELL_EDGE not in text:
        return text
    return "\n".join(_cell_row(line) if CELL_EDGE in line else line for line in text.split("\n"))


def _cell_row(line: str) -> str:
    segments = [segment.strip() for segment in line.split(CELL_EDGE)]
    letters = [segment for segment in segments if segment]
    if len(letters) < 3 or any(len(letter) > 1 for letter in letters):
        return _EDGES.sub(" ", line)
    # Between two letter cells there are two edges (one empty segment); an empty cell
    # between them adds two more.
    out: list[str] = []
    empty = 0
    for segment in segments:
        if not segment:
            empty += 1
            continue
        if out and empty >= 3:
            out.append(" ")
        out.append(segment)
        empty = 0
    return "".join(out)


def _plain(text: str) -> str:
    return " ".join(text.split()).casefold()


def render_html(source: str) -> tuple[str, str, bool]:
    """Visible text, hidden text, and whether entities were double-encoded."""
    try:
        renderer = _render(source, None)
        if renderer.late_style:
            renderer = _render(source, "\n".join(renderer.styles))
        visible, hidden = renderer.result()
    except Exception:  # HTMLParser is lenient, but hostile input must not escape
        return re.sub(r"<[^>]*>", " ", source), "", False
    double = False
    # "&amp;#118;" renders as the literal "&#118;": one more pass shows what was meant.
    # Only when the rendered text still holds entities, so a plain "&" is left alone.
    if _ENTITY.search(visible):
        visible, double = html.unescape(visible), True
    if _ENTITY.search(hidden):
        hidden = html.unescape(hidden)
    return visible, hidden, double


def _render(source: str, sheet: str | None) -> _Renderer:
    renderer = _Renderer(sheet)
    renderer.feed(source)
    renderer.close()
    return renderer


def html_to_text(source: str) -> str:
    """Visible text of an HTML document (hidden text left out)."""
    return render_html(source)[0]

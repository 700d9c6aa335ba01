"""Markdown written by providers, rendered once (when it is saved) to HTML that cannot run script.

The parser is markdown-it-py with the CommonMark preset: its algorithms are linear by design
(delimiter runs, brackets and link references are processed with bounded look-back, and the
nesting of blocks and inlines is capped by ``maxNesting``), unlike Python-Markdown whose
regular expressions go super-linear on runs of brackets and emphasis markers.
``bench/markdown_adversarial.py`` measures it on adversarial inputs at the stored maximum.

Raw HTML is disabled in the parser (it comes out escaped), and the output is still sanitised
by nh3 (ammonia) with an allow-list of tags, attributes and URL schemes, as defence in depth:
``javascript:`` links, event handlers and ``<script>`` never reach a page.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

#: The longest Markdown any field stores (API descriptions); the benchmark renders this much.
MAX_MARKDOWN_CHARS = 100_000
#: How deep blocks (lists, quotes) and inlines (emphasis, links) may nest before the rest is
#: rendered as text. CommonMark's preset says 20; deeper nesting is never legitimate prose.
MAX_NESTING = 20

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em", "h1", "h2", "h3",
    "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup",
    "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "code": {"class"},
    "ol": {"start"},
    "abbr": {"title"},
}
URL_SCHEMES = {"http", "https", "mailto"}

# One parser for the process: MarkdownIt instances are reusable and thread-safe for render().
_PARSER = (
    MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False, "maxNesting": MAX_NESTING})
    .enable("table")
    .enable("strikethrough")
)


def render_markdown(text: str) -> str:
    """Sanitised HTML for ``text``; safe to mark_safe(). Call it when the text is saved, not per view."""
    if not text:
        return ""
    html = _PARSER.render(text)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        # style= (table cell alignment) is dropped with every other attribute not listed: the
        # Content-Security-Policy allows no inline style.
        link_rel="noopener noreferrer nofollow",
    )

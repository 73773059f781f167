"""Article bodies: Markdown rendered with markdown-it-py, then sanitised with nh3.

Two layers on purpose: markdown-it escapes raw HTML and refuses javascript:/vbscript:/data: links
itself; nh3 (ammonia) then keeps only an allow-list of tags, attributes and URL schemes, so a
bug or a plugin in the first layer cannot put a script on the public help centre.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata

import nh3
from markdown_it import MarkdownIt

TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
    "img", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
})
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "th": {"align"}, "td": {"align"},
              "ol": {"start"}, "code": {"class"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
_BLOCK_END = re.compile(r"(?i)<\s*(br\s*/?|/p|/div|/li|/tr|/h[1-6]|/blockquote|/pre|/table)\s*>")
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
SLUG_MAX = 80


@functools.cache
def _markdown() -> MarkdownIt:
    # Built at the first render, not at import. "html": False escapes raw HTML in the source.
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])


def render(markdown: str) -> str:
    """Sanitised HTML for a Markdown body."""
    raw = _markdown().render(markdown or "")
    return nh3.clean(raw, tags=set(TAGS), attributes={k: set(v) for k, v in ATTRIBUTES.items()},
                     url_schemes=set(URL_SCHEMES), link_rel="noopener noreferrer nofollow", strip_comments=True)


def html_to_text(markup: str) -> str:
    """The text of sanitised HTML (what search indexes and snippets show)."""
    marked = _BLOCK_END.sub(lambda m: m.group(0) + "\n", markup)  # after the tag: tables keep their order
    text = html.unescape(nh3.clean(marked, tags=set(), clean_content_tags={"script", "style"}))
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n", "\n".join(lines)).strip()


def slugify(title: str) -> str:
    """"Reset your password (2FA)" -> "reset-your-password-2fa"; "article" when nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", title or "").encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")[:SLUG_MAX].strip("-")
    return slug or "article"


def snippet(text: str, length: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= length else flat[:length - 1].rstrip() + "…"

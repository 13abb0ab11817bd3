"""Markdown to HTML for the portal, safe for text a model or a user wrote.

CommonMark through markdown-it-py with raw HTML turned off: every ``<tag>`` in the
text is escaped, never passed through, and links or images whose URL scheme is
``javascript:``, ``vbscript:``, ``file:`` or a non-image ``data:`` are not made into
links (markdown-it's ``validateLink``). Links open with ``rel="nofollow noopener
noreferrer"``. The result is therefore safe to mark as such in a template.
"""

from typing import Any

from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_md.enable("table").enable("strikethrough")


def _link_open(
    self: RendererHTML,
    tokens: list[Token],
    idx: int,
    options: OptionsDict,
    env: EnvType,
) -> str:
    tokens[idx].attrSet("rel", "nofollow noopener noreferrer")
    return self.renderToken(tokens, idx, options, env)


_md.add_render_rule("link_open", _link_open)


def markdown_to_html(text: Any) -> SafeString:
    """`text` (Markdown) as HTML with every raw HTML tag escaped."""
    return mark_safe(_md.render(str(text or "")))  # noqa: S308 - html=False escapes

"""MkDocs hook: the docstrings' reST cross-reference roles, which mkdocstrings renders as plain text
(``:func:`x```), become code spans; a ``~`` (Sphinx's "show the last part only") keeps the last part."""

import re

_ROLE = re.compile(r":(?:func|class|mod|meth|data|attr|exc):<code>(~?)([^<]*)</code>")


def _code(match):
    tilde, name = match.groups()
    return f"<code>{name.rsplit('.', 1)[-1] if tilde else name}</code>"


def on_page_content(html, **kwargs):
    return _ROLE.sub(_code, html)

"""Render a report, a list of :class:`Section` objects made of a few block types, as HTML and Markdown.

The HTML page is self-contained: the stylesheet (``report.css``) is inlined and every plot is embedded as
a base64 PNG, so the file opens from disk with no server and no network. The Markdown file links to the
PNGs in ``plots/``. Every piece of text is escaped for the format it goes into (data sources, notes and
prior rationales are user input).

Block types: :class:`Para` (text), :class:`Banner` (a coloured box), :class:`Items` (a bulleted list),
:class:`Table` and :class:`Image`. A section is a title and a list of blocks; later issues add their
own sections (sensitivity, model comparison) by passing ``extra_sections`` to
:func:`rdshare.report.build_report`.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources


@dataclass(frozen=True)
class Para:
    """A paragraph of plain text (escaped); ``strong`` renders it bold."""

    text: str
    strong: bool = False


@dataclass(frozen=True)
class Banner:
    """A highlighted box: ``kind`` is ``"danger"`` (not converged), ``"ok"`` or ``"note"``."""

    text: str
    kind: str = "note"


@dataclass(frozen=True)
class Items:
    """A bulleted list of plain-text items."""

    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """A table of plain-text cells; ``numeric`` names the columns to right-align."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[str, ...] = ()
    css_class: str = ""


@dataclass(frozen=True)
class Image:
    """A PNG: embedded in HTML, linked as ``plots/<file>`` from Markdown."""

    file: str
    png: bytes
    alt: str
    caption: str = ""


Block = Para | Banner | Items | Table | Image


@dataclass(frozen=True)
class Section:
    """A titled part of the report.

    Parameters
    ----------
    title : str
        Heading text (plain text).
    blocks : sequence of Block
        The section's content, in order.
    level : int
        Heading level: 2 for a top-level section, 3 for a subsection.
    anchor : str
        HTML id; derived from the title when empty.
    """

    title: str
    blocks: tuple[Block, ...] = field(default_factory=tuple)
    level: int = 2
    anchor: str = ""

    @property
    def id(self) -> str:
        return self.anchor or slug(self.title)


def slug(text: str) -> str:
    """An HTML id from a title: lowercase letters, digits and hyphens."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def esc(text: object) -> str:
    """Escape text for HTML (quotes included)."""
    return html.escape(str(text), quote=True)


def md_esc(text: object) -> str:
    """Escape text for Markdown: ``<`` and ``>`` as entities (no raw HTML), Markdown punctuation
    that could format or link, pipes (table cells); line breaks become spaces."""
    out = str(text).replace("<", "&lt;").replace(">", "&gt;")
    out = out.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")
    out = out.replace("*", "\\*").replace("[", "\\[").replace("]", "\\]")
    return " ".join(out.split())


def css() -> str:
    """The report stylesheet shipped with the package."""
    return (resources.files("rdshare.report") / "report.css").read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------------------
# HTML


def _html_block(block: Block) -> str:
    match block:
        case Para(text=text, strong=strong):
            inner = f"<strong>{esc(text)}</strong>" if strong else esc(text)
            return f"<p>{inner}</p>"
        case Banner(text=text, kind=kind):
            return f'<div class="banner banner-{esc(kind)}" role="status">{esc(text)}</div>'
        case Items(items=items):
            lis = "".join(f"<li>{esc(i)}</li>" for i in items)
            return f"<ul>{lis}</ul>"
        case Table(header=header, rows=rows, numeric=numeric, css_class=cls):
            num = {i for i, h in enumerate(header) if h in numeric}
            head = "".join(f"<th>{esc(h)}</th>" for h in header)
            body = []
            for row in rows:
                cells = "".join(
                    f'<td class="num">{esc(c)}</td>' if i in num else f"<td>{esc(c)}</td>"
                    for i, c in enumerate(row)
                )
                body.append(f"<tr>{cells}</tr>")
            klass = f' class="{esc(cls)}"' if cls else ""
            return (
                f'<div class="table-wrap"><table{klass}><thead><tr>{head}</tr></thead>'
                f"<tbody>{''.join(body)}</tbody></table></div>"
            )
        case Image(file=file, png=png, alt=alt, caption=caption):
            data = base64.b64encode(png).decode("ascii")
            cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
            return (
                f'<figure id="plot-{esc(slug(file))}"><img src="data:image/png;base64,{data}" '
                f'alt="{esc(alt)}">{cap}</figure>'
            )
    raise TypeError(f"unknown block {block!r}")


def render_html(title: str, sections: Sequence[Section], subtitle: str = "") -> str:
    """A complete, self-contained HTML page."""
    toc = "".join(
        f'<li class="toc-{s.level}"><a href="#{esc(s.id)}">{esc(s.title)}</a></li>'
        for s in sections
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>",
        f"<style>\n{css()}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{esc(title)}</h1>",
    ]
    if subtitle:
        parts.append(f'<p class="subtitle">{esc(subtitle)}</p>')
    parts.append(f'<nav aria-label="contents"><ul>{toc}</ul></nav>')
    for s in sections:
        level = min(max(s.level, 2), 4)
        parts.append(f'<section id="{esc(s.id)}" class="level-{level}">')
        parts.append(f"<h{level}>{esc(s.title)}</h{level}>")
        parts.extend(_html_block(b) for b in s.blocks)
        parts.append("</section>")
    parts += ["</main>", "</body>", "</html>", ""]
    return "\n".join(parts)


# ------------------------------------------------------------------------------------------------
# Markdown


def _md_block(block: Block, plots_dir: str) -> str:
    match block:
        case Para(text=text, strong=strong):
            return f"**{md_esc(text)}**" if strong else md_esc(text)
        case Banner(text=text, kind=kind):
            word = {"danger": "WARNING", "ok": "OK"}.get(kind, "Note")
            return f"> **{word}:** {md_esc(text)}"
        case Items(items=items):
            return "\n".join(f"- {md_esc(i)}" for i in items)
        case Table(header=header, rows=rows, numeric=numeric):
            align = ["---:" if h in numeric else "---" for h in header]
            lines = [
                "| " + " | ".join(md_esc(h) for h in header) + " |",
                "| " + " | ".join(align) + " |",
            ]
            lines += ["| " + " | ".join(md_esc(c) for c in row) + " |" for row in rows]
            return "\n".join(lines)
        case Image(file=file, alt=alt, caption=caption):
            out = f"![{md_esc(alt)}]({plots_dir}/{file})"
            return out + (f"\n\n*{md_esc(caption)}*" if caption else "")
    raise TypeError(f"unknown block {block!r}")


def render_markdown(
    title: str, sections: Sequence[Section], subtitle: str = "", plots_dir: str = "plots"
) -> str:
    """The report as Markdown; images link to ``plots_dir``."""
    parts = [f"# {md_esc(title)}"]
    if subtitle:
        parts.append(md_esc(subtitle))
    for s in sections:
        parts.append("#" * min(max(s.level, 2), 4) + " " + md_esc(s.title))
        parts.extend(_md_block(b, plots_dir) for b in s.blocks)
    return "\n\n".join(parts) + "\n"

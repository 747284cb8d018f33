"""The feedback report's two templates (quality/templates/): the statistics team's wording, and
whatever an upload holds shown as text in both formats."""

from __future__ import annotations

import html
import re
import shutil

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sukvinnofrid.quality import feedback
from test_quality import gate, valid_row

# Markup, Markdown, formulas and entities, as a kommun's cells and file names can hold them.
NASTY = st.lists(
    st.sampled_from(
        list("<>&\"'=+-@|*_#[]{}`\\!~ \t\n\rabcÅäö019–”/;:.()")
        + ["<script>", "</b>", "&lt;", "**", "&#39;"]
    ),
    max_size=20,
).map("".join)


def _context(data) -> dict:
    """A report context as report_context() builds it, with upload values drawn by hypothesis
    (neutralised, as report_context does) and every branch of the templates reachable."""
    value = st.builds(feedback.neutralise, NASTY)
    count = st.integers(min_value=0, max_value=12_000)
    problem = st.fixed_dictionaries(
        {
            "severity": st.sampled_from(["block", "reject", "error", "warn"]),
            "variables": st.one_of(st.none(), value),
            "rows": st.one_of(st.none(), value),
            "total": st.one_of(st.none(), count),
            "message": value,
            "hint": value,
            "missing_columns": st.lists(value, max_size=3),
            "wrong_values": st.lists(st.one_of(st.just(""), value), max_size=3),
        }
    )
    return data.draw(
        st.fixed_dictionaries(
            {
                "kommun": value,
                "round": value,
                "file": value,
                "received": value,
                "outcome": st.sampled_from(["pending", "blocked", "accepted"]),
                "gated": st.booleans(),
                "reason": value,
                "rows": st.fixed_dictionaries(
                    dict.fromkeys(
                        ("received", "counted", "rejected", "with_errors", "warned"), count
                    )
                ),
                "superseded_by": st.one_of(st.none(), st.integers(1, 10**6)),
                "not_saved": st.one_of(st.none(), value),
                "problems": st.lists(problem, max_size=3),
                "phases": st.one_of(
                    st.none(),
                    st.lists(
                        st.fixed_dictionaries({"phase": value, "upload": value, "riket": value}),
                        max_size=3,
                    ),
                ),
            }
        )
    )


def markdown_words(text: str) -> list[str]:
    """The words a reader sees in the Markdown: syntax removed, escapes undone."""
    text = re.sub(r"^\|(?:---\|)+$", "", text, flags=re.M)  # table separators
    text = re.sub(r"^(?:#+|-) ", "", text, flags=re.M)  # headings, list items
    text = re.sub(r"(?<!\\)\*\*|(?<!\\)\|", " ", text)  # bold, cell borders
    text = re.sub(r"\\(.)", r"\1", text)
    return html.unescape(text).split()


def html_words(page: str) -> list[str]:
    """The words a reader sees on the page (the <title> repeats the heading)."""
    body = re.sub(r"<(style|title)>.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", body)).split()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_both_formats_say_the_same_and_show_every_value_as_text(data):
    context = _context(data)
    markdown, page = feedback.render_report(context)
    assert markdown_words(markdown) == html_words(page)
    # Nothing from the upload becomes markup: the only tags are the template's own.
    assert set(re.findall(r"<(/?[a-z0-9]+)", page)) <= {
        "!doctype",
        "html",
        "/html",
        "head",
        "/head",
        "meta",
        "title",
        "/title",
        "style",
        "/style",
        "body",
        "/body",
        "h1",
        "/h1",
        "h2",
        "/h2",
        "ul",
        "/ul",
        "li",
        "/li",
        "p",
        "/p",
        "strong",
        "/strong",
        "table",
        "/table",
        "thead",
        "/thead",
        "tbody",
        "/tbody",
        "tr",
        "/tr",
        "th",
        "/th",
        "td",
        "/td",
    }
    for line in markdown.splitlines():
        # Every Markdown character in a line is the template's: the values' are escaped.
        unescaped = re.sub(r"\\.|&(?:lt|gt|amp);", "", line)
        assert "<" not in unescaped and "`" not in unescaped and "[" not in unescaped, line


def test_a_template_edit_changes_the_report(clean_warehouse, tmp_path, monkeypatch):
    """The statistics team edits the wording in the templates: the next report says what the
    edited templates say, and a value the edit adds is escaped like every other."""
    templates = tmp_path / "templates"
    shutil.copytree(feedback.TEMPLATES, templates)
    for name, heading, added in (
        ("feedback.md.j2", "## Resultat\n\n", "Filen hette {{ file }}.\n\n"),
        ("feedback.html.j2", "<h2>Resultat</h2>\n", "<p>Filen hette {{ file }}.</p>\n"),
    ):
        path = templates / name
        text = path.read_text(encoding="utf-8")
        assert "Godkänd, med anmärkningar nedan." in text and heading in text
        text = text.replace("Godkänd, med anmärkningar nedan.", "Godkänd, se kommentarerna.")
        path.write_text(text.replace(heading, heading + added), encoding="utf-8")
    monkeypatch.setattr(feedback, "TEMPLATES", templates)
    _, upload_id = gate(
        clean_warehouse, [valid_row(v4_klient="X", v14_kon="9")], file_name="<b>*fil*</b>.csv"
    )
    md_path = feedback.write_feedback(upload_id, clean_warehouse)
    markdown = md_path.read_text(encoding="utf-8")
    page = md_path.with_suffix(".html").read_text(encoding="utf-8")
    for text in (markdown, page):
        assert "Godkänd, se kommentarerna." in text
        assert "Godkänd, med anmärkningar nedan." not in text
        assert "<b>" not in text
    assert "Filen hette &lt;b&gt;\\*fil\\*&lt;/b&gt;.csv." in markdown
    assert "<p>Filen hette &lt;b&gt;*fil*&lt;/b&gt;.csv.</p>" in page
    assert markdown_words(markdown) == html_words(page)

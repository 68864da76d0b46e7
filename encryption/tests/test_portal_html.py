"""The portal's HTML sanitiser: nothing remote, no script, links by position."""

from __future__ import annotations

from encryption.portal_html import link_description, sanitise_message_html

PREFIX = "/secure/t/link/"


def clean(html: str):
    return sanitise_message_html(html, link_prefix=PREFIX)


def test_scripts_handlers_and_style_sheets_are_removed():
    out = clean(
        '<p onclick="x()">Hi</p><script>alert(1)</script><style>p{background:url(https://e.example/x)}</style>'
        '<link rel="stylesheet" href="https://e.example/s.css"><iframe src="https://e.example/"></iframe>'
        '<form action="https://e.example/"><input name="q"></form><svg onload="x()"></svg>'
    ).html
    assert out == "<p>Hi</p>"


def test_remote_images_are_dropped_and_inline_ones_kept():
    out = clean(
        '<img src="https://tracker.example/p.gif" alt="a"><img src="//tracker.example/p.gif">'
        '<img src="data:image/png;base64,iVBORw0KGgo=" alt="b"><img src="data:text/html;base64,PHA+">'
        '<img srcset="https://tracker.example/2x.gif 2x">'
    ).html
    assert "tracker.example" not in out and "text/html" not in out
    assert '<img src="data:image/png;base64,iVBORw0KGgo=" alt="b">' in out


def test_css_that_could_fetch_is_removed_from_style_attributes():
    out = clean(
        '<div style="color: #333; background-image: url(https://t.example/a.png); font-weight: bold">x</div>'
        '<p style="background: u\\72l(https://t.example/b.png)">y</p>'
        '<table background="https://t.example/bg.png"><tr><td>z</td></tr></table>'
    ).html
    assert "t.example" not in out and "url(" not in out and "\\" not in out
    assert "color: #333; font-weight: bold" in out


def test_links_are_rewritten_by_position_and_targets_kept_aside():
    result = clean(
        '<a href="https://one.example/a?x=1">1</a><a href="javascript:alert(1)">j</a>'
        '<a href="mailto:desk@clinic.example">m</a><a href="/relative">r</a><a href="tel:+15550100">t</a>'
        '<a href="https://one.example/a?x=1" target="_blank">again</a>'
    )
    assert result.links == (
        "https://one.example/a?x=1",
        "mailto:desk@clinic.example",
        "tel:+15550100",
        "https://one.example/a?x=1",
    )
    assert "one.example" not in result.html and "javascript" not in result.html and "target" not in result.html
    for position in range(4):
        assert f'href="{PREFIX}{position}/"' in result.html
    assert result.html.count("href=") == 4
    assert "noopener noreferrer" in result.html


def test_the_same_html_gives_the_same_links():
    html = '<p><a href="https://a.example/">a</a><b><a href="https://b.example/">b</a></b></p>'
    assert clean(html).links == clean(html).links == ("https://a.example/", "https://b.example/")


def test_link_descriptions_name_the_host():
    assert link_description("https://Clinic.Example.org/labs?x=1") == "clinic.example.org"
    assert link_description("mailto:desk@clinic.example") == "desk@clinic.example"

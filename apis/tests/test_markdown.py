"""Markdown: correct, sanitised, rendered once when saved, and bounded on adversarial input."""

from __future__ import annotations

import importlib
import importlib.util
import time
from pathlib import Path

import pytest
from django.apps import apps as django_apps

from apis import services
from apis.markdown import MAX_MARKDOWN_CHARS, render_markdown
from apis.models import Api, ApiVersion, Visibility

BENCH = Path(__file__).resolve().parents[2] / "bench" / "markdown_adversarial.py"


def _bench():
    spec = importlib.util.spec_from_file_location("markdown_adversarial", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_commonmark_basics():
    html = render_markdown(
        "# Title\n\n## Sub\n\n* one\n* two\n\n1. first\n2. second\n\n"
        "Some **bold**, *em*, ~~gone~~ and `code`.\n\n```python\nx = 1 < 2\n```\n\n"
        "> quoted\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    assert "<h1>Title</h1>" in html and "<h2>Sub</h2>" in html
    assert "<ul>\n<li>one</li>\n<li>two</li>\n</ul>" in html
    assert "<ol>\n<li>first</li>" in html
    assert "<strong>bold</strong>" in html and "<em>em</em>" in html and "<s>gone</s>" in html
    assert "<code>code</code>" in html
    assert '<pre><code class="language-python">x = 1 &lt; 2\n</code></pre>' in html
    assert "<blockquote>\n<p>quoted</p>\n</blockquote>" in html
    assert "<table>" in html and "<td>1</td>" in html


def test_links_get_rel_nofollow_and_unsafe_schemes_are_dropped():
    html = render_markdown("[docs](https://docs.example/x) [mail](mailto:a@b.example) [bad](javascript:alert(1))")
    assert '<a href="https://docs.example/x" rel="noopener noreferrer nofollow">docs</a>' in html
    assert 'href="mailto:a@b.example"' in html
    assert 'href="javascript:' not in html
    assert "<a" not in render_markdown("[x](JaVaScRiPt:alert(1)) [y](data:text/html;base64,PHNjcmlwdD4=)")
    assert 'src="javascript' not in render_markdown("![i](javascript:alert(1))")


def test_raw_html_is_text_not_markup():
    html = render_markdown("<script>alert(1)</script>\n\nhi <img src=x onerror=alert(1)> <b onclick=x>b</b>")
    assert "<script" not in html and "<img" not in html and "<b " not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_empty_is_empty():
    assert render_markdown("") == ""


def test_adversarial_inputs_at_max_size_stay_within_budget():
    """A few of the benchmark's worst cases at the stored maximum; generous budget (the bench is stricter)."""
    bench = _bench()
    for case in ("open brackets [[[[", "alternating *_", "nested lists", "link reference flood"):
        text = bench.CASES[case](MAX_MARKDOWN_CHARS)[:MAX_MARKDOWN_CHARS]
        assert len(text) >= MAX_MARKDOWN_CHARS - 10
        start = time.process_time()
        render_markdown(text)
        assert time.process_time() - start < 5.0, case


def test_description_is_rendered_when_saved_and_pages_show_the_stored_html(client, alice, alice_m):
    client.force_login(alice)
    api = services.api_create(
        actor=alice_m, name="Docs", slug="docs", description="Read **this**.", visibility=Visibility.PUBLIC
    )
    assert api.description_html == "<p>Read <strong>this</strong>.</p>\n"
    api = services.api_update(actor=alice_m, api=api, description="Now *that*.")
    assert Api.objects.unscoped().get(pk=api.pk).description_html == "<p>Now <em>that</em>.</p>\n"
    # The page shows what was stored at save time: no rendering per view.
    Api.objects.unscoped().filter(pk=api.pk).update(description_html="<p>stored-marker</p>")
    html = client.get(f"/t/{alice_m.tenant.slug}/apis/docs/").content.decode()
    assert "stored-marker" in html


def test_release_notes_are_rendered_when_saved(alice_m, orders):
    version = services.version_create(
        actor=alice_m, api=orders, label="v9", base_path="/orders/v9", release_notes="- fixed **bugs**"
    )
    assert version.release_notes_html == "<ul>\n<li>fixed <strong>bugs</strong></li>\n</ul>\n"
    version = services.version_update(actor=alice_m, version=version, release_notes="")
    assert ApiVersion.objects.unscoped().get(pk=version.pk).release_notes_html == ""


@pytest.mark.django_db
def test_data_migration_renders_existing_rows(alice_m, orders):
    Api.objects.unscoped().filter(pk=orders.pk).update(description_html="")
    migration = importlib.import_module("apis.migrations.0002_markdown_rendered_html")
    migration.render_existing(django_apps, None)
    assert (
        Api.objects.unscoped().get(pk=orders.pk).description_html == "<p>Hand parcels to <strong>Acme</strong>.</p>\n"
    )

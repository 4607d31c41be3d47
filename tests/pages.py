"""Reading the portal's pages in server tests: a signed-in client, and a page's crumbs and headings."""

from __future__ import annotations

import re

from django.test import Client


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text_of(fragment: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", "", fragment).split())


def crumbs_and_headings(html: str) -> tuple[list[str], list[str]]:
    """The breadcrumb trail's parts and the page's h1-h3 texts, tags and extra spaces removed."""
    trail = re.search(r'<div class="breadcrumbs">(.*?)</div>', html, re.S)
    assert trail is not None, "the page has no breadcrumbs"
    crumbs = [text_of(part) for part in re.split(r"&rsaquo;|›", trail.group(1))]
    headings = [text_of(h) for h in re.findall(r"<h[123][^>]*>(.*?)</h[123]>", html, re.S)]
    return [c for c in crumbs if c], headings

#!/usr/bin/env python3
"""Checks the documentation's internal links (scripts/docs.sh runs it after `mdbook build`).

1. In the built book (BOOK_DIR): every <a href> and <img src> that is not external (http:,
   https:, mailto:) must name a file of the book, and its #anchor an id in that file, as
   mdBook generated them.
2. In README.md, read on GitHub from the repository root: every relative link must name a
   file of the repository; an #anchor into a page of the book (docs/PAGE.md, CHANGELOG.md) or
   into the README itself must be an id of that page in the built book.

External links are not fetched. Prints one FAIL line per broken link, naming the source file
and the link, and exits 1 if there was any; else one OK line.
Usage: check-links.py BOOK_DIR REPO_DIR"""
import html.parser
import os
import re
import sys
import urllib.parse

SKIP_PAGES = {"print.html", "toc.html", "404.html", "index.html"}  # generated copies, the sidebar
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//")
# The book's HTML pages that come from files outside docs/ (book.toml, docs/*.md includes).
SOURCE_OF = {"intro.html": "README.md", "changelog.html": "CHANGELOG.md"}


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids, self.links = set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        link = attrs.get("href") if tag == "a" else attrs.get("src") if tag == "img" else None
        if link is not None:
            self.links.append(link)


def parse(path):
    page = Page()
    with open(path, encoding="utf-8") as f:
        page.feed(f.read())
    return page


def source(rel):
    return SOURCE_OF.get(rel, "docs/" + rel[: -len(".html")] + ".md")


def main():
    book, repo = sys.argv[1], sys.argv[2]
    pages = {}
    for root, _, files in os.walk(book):
        for name in files:
            if name.endswith(".html"):
                path = os.path.join(root, name)
                pages[os.path.relpath(path, book)] = parse(path)
    failures = []
    checked = 0

    def fail(src, link, why):
        line = f"FAIL {src}: link {link!r}: {why}"
        if line not in failures:
            failures.append(line)

    for rel, page in sorted(pages.items()):
        if rel in SKIP_PAGES or "/" in rel:
            continue
        for link in page.links:
            if EXTERNAL.match(link):
                continue
            checked += 1
            target, _, anchor = link.partition("#")
            target = urllib.parse.unquote(target)
            dest = os.path.normpath(os.path.join(os.path.dirname(rel), target)) if target else rel
            if not os.path.isfile(os.path.join(book, dest)):
                fail(source(rel), link, f"{dest} is not in the book")
            elif anchor and dest in pages and urllib.parse.unquote(anchor) not in pages[dest].ids:
                fail(source(rel), link, f"{source(dest)} has no heading with id {anchor!r}")

    # README.md as GitHub shows it: links from the repository root.
    in_book = {source(rel): rel for rel in pages if rel not in SKIP_PAGES and "/" not in rel}
    with open(os.path.join(repo, "README.md"), encoding="utf-8") as f:
        text = re.sub(r"```.*?```", "", f.read(), flags=re.S)  # not the code blocks
    for link in re.findall(r"\[[^\]]*\]\(([^)\s]+)\)", text):
        if EXTERNAL.match(link):
            continue
        checked += 1
        target, _, anchor = link.partition("#")
        target = urllib.parse.unquote(target) or "README.md"
        if not os.path.exists(os.path.join(repo, target)):
            fail("README.md", link, f"{target} is not in the repository")
        elif anchor:
            rel = in_book.get(os.path.normpath(target))
            if rel is None:
                fail("README.md", link, f"{target} is not in the book, so its anchors cannot be checked")
            elif urllib.parse.unquote(anchor) not in pages[rel].ids:
                fail("README.md", link, f"{target} has no heading with id {anchor!r}")

    for line in failures:
        print(line)
    if failures:
        print(f"check-links: {len(failures)} broken of {checked} internal links", file=sys.stderr)
        sys.exit(1)
    print(f"check-links: OK, {checked} internal links in {len(pages)} pages and README.md")


if __name__ == "__main__":
    main()

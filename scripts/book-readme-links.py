#!/usr/bin/env python3
"""mdBook preprocessor (book.toml): in the chapter that includes the README (intro.md), rewrite
the README's links, written from the repository root, to the book's pages: docs/PAGE.md becomes
PAGE.md and CHANGELOG.md changelog.md. A link to any other file of the repository
(CONTRIBUTING.md, ARCHITECTURE.md), which the book does not hold, keeps its text only.
`mdbook` runs it as `book-readme-links.py supports RENDERER`, then with [context, book] as JSON
on stdin, and reads the book back from stdout."""
import json
import re
import sys

CHAPTER = "intro.md"
LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)")


def rewrite(markdown):
    def one(m):
        text, target = m.group(1), m.group(2)
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            return m.group(0)
        if target.startswith("docs/"):
            return f"[{text}]({target[len('docs/'):]})"
        if target.split("#")[0] == "CHANGELOG.md":
            return f"[{text}](changelog.md{target[len('CHANGELOG.md'):]})"
        return text

    return LINK.sub(one, markdown)


def walk(node):
    if isinstance(node, dict):
        if node.get("path") == CHAPTER and isinstance(node.get("content"), str):
            node["content"] = rewrite(node["content"])
        for value in node.values():
            walk(value)
    elif isinstance(node, list):
        for value in node:
            walk(value)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "supports":
        sys.exit(0)
    context, book = json.load(sys.stdin)
    walk(book)
    json.dump(book, sys.stdout)


if __name__ == "__main__":
    main()

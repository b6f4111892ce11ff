#!/usr/bin/env bash
# The documentation as a book: builds the mdBook of book.toml (docs/, with the README as its
# introduction and the CHANGELOG) into target/book/, then checks every internal link and
# anchor of the book and of README.md (scripts/check-links.py; external links are not
# fetched). Exits 1 on a broken link, with a FAIL line naming the file and the link.
# Installs mdBook (pinned) into .tools/ first, only when that version is not there yet
# (a few minutes of cargo install, once; CARGO_TARGET_DIR for it: target-tools/).
# Usage: scripts/docs.sh
set -euo pipefail
cd "$(dirname "$0")/.."

MDBOOK_VERSION=0.5.4
tools=${EAR_DOCS_TOOLS:-$PWD/.tools}

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

ensure_cargo_tool "$tools" mdbook "$MDBOOK_VERSION" --no-default-features --features search
rm -rf target/book
"$tools/bin/mdbook" build
python3 scripts/check-links.py target/book .

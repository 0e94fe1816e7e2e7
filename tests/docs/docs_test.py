#!/usr/bin/env python3
"""The docs as a reader meets them: the README is a front door of at most 300 lines that
links every page of docs/; every relative link in the repository's Markdown resolves (the
file, and the heading an anchor names); no text refers to files outside the repository or
to issue numbers.

Usage: tests/docs/docs_test.py SOURCE_DIR      check the tree (exit 1 with every problem)
       tests/docs/docs_test.py --self-test     check that each check catches what it must,
                                               on a small tree made for it
"""

import os
import re
import subprocess
import sys
import tempfile

README_MAX_LINES = 300
# Pages the README links that another branch adds, allowed to be missing until it lands
# (none now).
PENDING_PAGES = set()

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|!\[[^\]]*\]\(([^)\s]+)\)")
OUTSIDE = re.compile(r"\.\./shared/|(?<![\w.-])shared/BINDING-CASES")
ISSUE = re.compile(r"\b[Ii]ssues? #?\d+|\(#\d+[):]")
# Upstream projects' issue trackers are theirs to cite: `owner/repo#123`.
UPSTREAM = re.compile(r"[\w.-]+/[\w.-]+#\d+(?:,\s*#\d+)*")
TEXT_SUFFIXES = (".md", ".cpp", ".hpp", ".c", ".h", ".txt", ".cmake", ".py", ".sh", ".toml", ".yml",
                 ".yaml", ".json", ".mjs", ".js", ".in", ".service", ".socket", ".path", ".timer", ".map")
SKIP_DIRS = {".git", "build", "node_modules", ".next", "corpus", "dist"}


def slug(heading):
    """The anchor GitHub gives a heading."""
    text = re.sub(r"<[^>]+>", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    found, seen, fence = set(), {}, False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("```"):
                fence = not fence
            if fence:
                continue
            m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
            if m:
                base = slug(m.group(1))
                n = seen.get(base, 0)
                seen[base] = n + 1
                found.add(base if n == 0 else f"{base}-{n}")
    return found


def markdown_links(path):
    """(line number, target) of every inline link outside code blocks and code spans."""
    links, fence = [], False
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.startswith("```"):
                fence = not fence
                continue
            if fence:
                continue
            for m in LINK.finditer(re.sub(r"`[^`]*`", "``", line)):
                links.append((number, m.group(1) or m.group(2)))
    return links


def repository_files(root):
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "--cached", "--others", "--exclude-standard"],
                             capture_output=True, text=True, check=True).stdout.split("\n")
        files = [f for f in out if f and os.path.isfile(os.path.join(root, f))]
        if files:
            return sorted(f for f in files if not (set(f.split("/")[:-1]) & SKIP_DIRS))
    except (OSError, subprocess.CalledProcessError):
        pass
    files = []
    for directory, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        files += [os.path.relpath(os.path.join(directory, n), root) for n in names]
    return sorted(files)


def is_text(path):
    name = os.path.basename(path)
    if path.endswith(TEXT_SUFFIXES) or name in ("CMakeLists.txt", "README", "compare", "copyright"):
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(128)
        return head.startswith(b"#!")
    except OSError:
        return False


def check(root):
    problems = []
    root = os.path.abspath(root)
    readme = os.path.join(root, "README.md")
    with open(readme, encoding="utf-8") as f:
        lines = f.read().split("\n")
    count = len(lines) - (1 if lines and lines[-1] == "" else 0)
    if count > README_MAX_LINES:
        problems.append(f"README.md: {count} lines, more than {README_MAX_LINES}: move the detail into docs/")

    files = repository_files(root)
    markdown = [f for f in files if f.endswith(".md")]
    docs_pages = sorted(f for f in files if f.startswith("docs/") and f.endswith(".md") and f.count("/") == 1)
    readme_targets = {os.path.normpath(t.split("#")[0]) for _, t in markdown_links(readme)
                      if not re.match(r"^[a-z]+:", t) and t.split("#")[0]}
    for page in sorted(set(docs_pages) | PENDING_PAGES):
        if page not in readme_targets:
            problems.append(f"README.md: does not link {page} (every page of docs/ is reached from the README)")
    for page in sorted(PENDING_PAGES):
        if page in files:
            print(f"note: {page} exists now: remove it from PENDING_PAGES in tests/docs/docs_test.py")

    anchor_cache = {}
    for md in markdown:
        path = os.path.join(root, md)
        for number, target in markdown_links(path):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            resolved = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
            where = f"{md}:{number}: link ({target})"
            if not (resolved + os.sep).startswith(root + os.sep) and resolved != root:
                problems.append(f"{where} points outside the repository")
                continue
            relative = os.path.relpath(resolved, root)
            if not os.path.exists(resolved):
                if relative not in PENDING_PAGES:
                    problems.append(f"{where}: {relative} does not exist")
                continue
            if anchor and resolved.endswith(".md"):
                if resolved not in anchor_cache:
                    anchor_cache[resolved] = anchors(resolved)
                if anchor not in anchor_cache[resolved]:
                    problems.append(f"{where}: {relative} has no heading #{anchor}")

    for name in files:
        path = os.path.join(root, name)
        if name == "tests/docs/docs_test.py" or not is_text(path):
            continue
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read(1_000_000)
        except OSError:
            continue
        for number, line in enumerate(text.split("\n"), 1):
            if OUTSIDE.search(line):
                problems.append(f"{name}:{number}: refers to a file outside the repository: {line.strip()[:120]}")
            for m in ISSUE.finditer(UPSTREAM.sub("", line)):
                problems.append(f"{name}:{number}: refers to an issue number ({m.group(0).strip()}); say what it is "
                                f"instead: {line.strip()[:120]}")
    return problems


def self_test():
    """Each check on a tree made to break it once; the good tree passes."""
    def tree(files):
        root = tempfile.mkdtemp(prefix="bindguard-docs-test-")
        for name, text in files.items():
            os.makedirs(os.path.dirname(os.path.join(root, name)), exist_ok=True)
            with open(os.path.join(root, name), "w") as f:
                f.write(text)
        return root
    good = {
        "README.md": "# x\n\n[a](docs/a.md), [b](docs/b.md#the-part)\n",
        "docs/a.md": "# A\n\nSee [b](b.md#the-part) and [the code](../src/x.cpp); upstream org/repo#12.\n",
        "docs/b.md": "# B\n\n## The part\n",
        "src/x.cpp": "// fine\n",
    }
    cases = {
        "a README over 300 lines": {"README.md": good["README.md"] + "line\n" * 300},
        "a docs page the README does not link": {"docs/c.md": "# C\n"},
        "a link to a missing file": {"docs/a.md": "# A\n\n[x](missing.md)\n"},
        "a link to a missing heading": {"docs/a.md": "# A\n\n[x](b.md#no-such-part)\n"},
        "a link out of the repository": {"docs/a.md": "# A\n\n[x](../../elsewhere.md)\n"},
        "a file outside the repository": {"src/x.cpp": "// rows of ../shared/BINDING-CASES.md\n"},
        "an issue number": {"src/x.cpp": "// the targets of issue 11\n"},
        "an issue number in prose": {"docs/b.md": "# B\n\n## The part\n\nSince Issue 5, ...\n"},
        "an issue number in a table": {"docs/b.md": "# B\n\n## The part\n\n| x | 1.05 (#11) |\n"},
    }
    failures = 0
    root = tree(good)
    try:
        found = check(root)
        if found:
            print(f"self-test: the good tree fails: {found}")
            failures += 1
    finally:
        subprocess.run(["rm", "-rf", root])
    for what, change in cases.items():
        root = tree({**good, **change})
        try:
            found = check(root)
        finally:
            subprocess.run(["rm", "-rf", root])
        if found:
            print(f"self-test: {what}: caught ({found[0]})")
        else:
            print(f"self-test: {what}: NOT caught")
            failures += 1
    return 1 if failures else 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    problems = check(argv[1])
    for problem in problems:
        print(problem)
    print(f"docs: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

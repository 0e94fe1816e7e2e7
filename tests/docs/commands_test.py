#!/usr/bin/env python3
"""docs/commands.md and the program say the same things: every command of `bindguard
--help` (and every subcommand of a group such as `bindguard kernel`) has a section in
docs/commands.md, every option of its `--help` is named in that section, and every option a
`Usage:` line of the page gives a command is one the command has. `bindguard --version` and
`bindguard version` print the project's version.

Usage: tests/docs/commands_test.py BINDGUARD DOCS/COMMANDS.MD VERSION
"""

import re
import subprocess
import sys

OPTION = re.compile(r"^\s+(?:-\w,)?(--[\w-]+)")


def run(argv):
    result = subprocess.run(argv, capture_output=True, text=True)
    return result.returncode, result.stdout + result.stderr


def subcommands(help_text):
    names, on = [], False
    for line in help_text.split("\n"):
        if line.startswith("Subcommands:"):
            on = True
            continue
        if on:
            m = re.match(r"^  ([a-z][\w-]*)\s", line)
            if m:
                names.append(m.group(1))
            elif line.strip() and not line.startswith("   "):
                on = False
    return names


def options(help_text):
    return sorted({m.group(1) for line in help_text.split("\n") if (m := OPTION.match(line))} - {"--help"})


def sections(text):
    """(heading, body) for every ## heading, code blocks left out of the headings."""
    out, heading, body, fence = [], None, [], False
    for line in text.split("\n"):
        if line.startswith("```"):
            fence = not fence
        if not fence and re.match(r"^##+ ", line):
            if heading is not None:
                out.append((heading, "\n".join(body)))
            heading, body = line, []
        elif heading is not None:
            body.append(line)
    if heading is not None:
        out.append((heading, "\n".join(body)))
    return out


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    bindguard, docs, version = argv[1:]
    problems = []
    with open(docs, encoding="utf-8") as f:
        page = f.read()
    parts = sections(page)

    status, top = run([bindguard, "--help"])
    commands = subcommands(top)
    if status != 0 or not commands:
        print(f"bindguard --help: exit {status}, no commands found:\n{top}")
        return 1
    groups = set()
    for command in list(commands):  # kernel, docker: groups of subcommands
        _, group_help = run([bindguard, command, "--help"])
        if subcommands(group_help):
            groups.add(command)
            commands += [f"{command} {name}" for name in subcommands(group_help)]
    helps = {}
    for command in commands:
        status, text = run([bindguard, *command.split(), "--help"])
        if status != 0:
            problems.append(f"bindguard {command} --help: exit {status}")
        helps[command] = text
    documented = 0
    for command in commands:
        mine = [body for heading, body in parts if f"`bindguard {command}`" in heading]
        if command in groups:  # its subcommands have the sections
            continue
        if not mine:
            problems.append(f"docs/commands.md: no section for `bindguard {command}` (a heading ## `bindguard {command}`)")
            continue
        documented += 1
        body = "\n".join(mine)
        for option in options(helps[command]):
            if not re.search(re.escape(option) + r"(?![\w-])", body):
                problems.append(f"docs/commands.md: `bindguard {command}` has {option} (its --help), "
                                "which its section does not name")
    # The other way: what the page's Usage: lines give a command exists.
    known = sorted(helps, key=len, reverse=True)
    for number, line in enumerate(page.split("\n"), 1):
        if not line.startswith("Usage:") and not (number > 1 and page.split("\n")[number - 2].startswith("Usage:")):
            continue
        for span in re.findall(r"`(bindguard [^`]*)`", line):
            rest = span[len("bindguard "):]
            command = next((c for c in known if rest == c or rest.startswith(c + " ")), None)
            if command is None:
                problems.append(f"docs/commands.md:{number}: `{span}`: no such command")
                continue
            for option in re.findall(r"(?<![\w-])(--[\w-]+)", rest):
                if option not in options(helps[command]):
                    problems.append(f"docs/commands.md:{number}: `bindguard {command}` has no option {option}")
    for heading, _ in parts:
        for span in re.findall(r"`bindguard ([^`]*)`", heading):
            if span not in helps:
                problems.append(f"docs/commands.md: heading {heading.strip()}: no command `bindguard {span}`")

    for argv_version in (["--version"], ["version"]):
        status, text = run([bindguard, *argv_version])
        if status != 0 or text != f"bindguard {version}\n":
            problems.append(f"bindguard {argv_version[0]}: exit {status}, printed {text!r}, "
                            f"not 'bindguard {version}' (the project's version)")

    for problem in problems:
        print(problem)
    print(f"commands: {len(commands)} commands, {documented} documented, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

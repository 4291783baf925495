"""What a fake container "does": a tiny reading of its command line.

The fake runtime does not execute anything, but the same test specs run against it and against
Docker, so it understands the handful of busybox idioms those specs use:

- `echo WORDS` prints a line (to stderr with a trailing `>&2`);
- `exit N` ends the program with code N;
- `trap 'CMDS' TERM` (or `trap CMDS SIGTERM`) makes a stop run CMDS (echo/exit) instead of
  being killed, as a shell that traps SIGTERM would;
- `sh -c SCRIPT` runs SCRIPT's `;`/newline-separated statements;
- anything else (`sleep`, `httpd -f`, a `while` loop, an unknown binary) runs until stopped.

A program that ends without `exit` exits 0. This is a model for tests, not a shell.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from stowage.runtime.base import LogStream

Output = tuple[LogStream, str]


@dataclass(slots=True)
class Program:
    """The outcome of reading a command line up to the point where it would block."""

    output: list[Output] = field(default_factory=list)
    exit_code: int | None = None  # None: still running (blocked in a long-running statement)
    on_term: Program | None = None  # a SIGTERM trap: what runs when the container is stopped


def _statements(script: str) -> list[str]:
    """Split on `;`, newlines and `&&` outside quotes."""
    out: list[str] = []
    current: list[str] = []
    quote = ""
    i = 0
    while i < len(script):
        ch = script[i]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in ";\n" or script.startswith("&&", i):
            out.append("".join(current))
            current = []
            i += 2 if ch == "&" else 1
            continue
        current.append(ch)
        i += 1
    out.append("".join(current))
    return out


def _words(statement: str) -> list[str]:
    try:
        return shlex.split(statement)
    except ValueError:
        return statement.split()


def _run_script(script: str, program: Program) -> Program:
    for raw in _statements(script):
        statement = raw.strip()
        if not statement or statement.startswith("#"):
            continue
        words = _words(statement)
        cmd = words[0]
        if cmd == "echo":
            to_err = words[-1] in (">&2", "1>&2")
            text = " ".join(words[1:-1] if to_err else words[1:])
            program.output.append(("stderr" if to_err else "stdout", text))
        elif cmd == "exit":
            program.exit_code = int(words[1]) if len(words) > 1 and words[1].lstrip("-").isdigit() else 0
            return program
        elif cmd == "trap":
            if len(words) >= 3 and any(w.upper() in ("TERM", "SIGTERM", "15") for w in words[2:]):
                program.on_term = _run_script(words[1], Program())
                if program.on_term.exit_code is None:
                    # the handler returns to the interrupted command; the container then runs on
                    # until SIGKILL in a real shell. Model the common case: the handler exits.
                    program.on_term.exit_code = 143
        elif cmd in ("true", ":", "export", "cd", "set"):
            continue
        elif cmd == "false":
            program.exit_code = 1
            return program
        else:
            return program  # a long-running statement: block here
    program.exit_code = 0
    return program


def read_program(argv: tuple[str, ...]) -> Program:
    if not argv:
        return Program(exit_code=0)
    name = argv[0].rsplit("/", 1)[-1]
    if name == "sh" and len(argv) >= 3 and argv[1] == "-c":
        return _run_script(argv[2], Program())
    if name == "echo":
        return Program(output=[("stdout", " ".join(argv[1:]))], exit_code=0)
    if name == "true":
        return Program(exit_code=0)
    if name == "false":
        return Program(exit_code=1)
    return Program()

#!/usr/bin/env python3
"""Runs a command on a new pseudo-terminal (stdin, stdout and stderr all the terminal), types `answer` and Enter once
`prompt` has appeared, and passes on everything the command wrote and its exit code. For the `api` confirmation tests.

usage: pty-run.py ANSWER PROMPT COMMAND [ARG...]
"""
import os
import pty
import select
import sys
import time

DEADLINE_SECONDS = 60


def main() -> int:
    answer, prompt, cmd = sys.argv[1], sys.argv[2].encode(), sys.argv[3:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    out = b""
    answered = False
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, 9)
            sys.stderr.write(f"pty-run: no end after {DEADLINE_SECONDS}s; output so far: {out!r}\n")
            os.waitpid(pid, 0)
            return 124
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break  # EIO: the command exited and closed the terminal
        if not chunk:
            break
        out += chunk
        if not answered and prompt in out:
            os.write(fd, answer.encode() + b"\r")
            answered = True
    _, status = os.waitpid(pid, 0)
    sys.stdout.buffer.write(out)
    sys.stdout.flush()
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())

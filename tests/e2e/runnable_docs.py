"""The documents' code blocks, and a user's session that runs them as written.

Which blocks run is said by each fence's info string:
- ``sh``: a shell script, run with ``set -e -o pipefail``; every command must succeed.
- ``console``: a transcript. Each ``$ `` line (with its ``\\`` continuation lines) is run and what
  it prints (stdout and stderr together, as a terminal shows them) must match the lines shown
  under it, up to the next ``$``. A command shown with ``error:`` must fail, any other must
  succeed; a transcript line ``^C`` means the command runs until interrupted: it gets SIGINT once
  the lines above it have appeared.
- ``python``: a snippet, run in one interpreter per document (names carry over from one snippet
  to the next, as when pasted into one ``python``). ``python file=PATH`` is a file the text
  tells the user to write: it is written to PATH instead.
- the word ``not-run`` after the language (``sh not-run``) keeps a block that cannot run here
  (a Kubernetes cluster, TLS files, a host name) out, and ``text``, ``yaml``, ``ebnf`` and bare
  fences hold output, grammar or layouts; anything else is refused, so that every new block is
  classified.

The shell's exported variables, its folder and ``$?`` carry over from each command to the next
(``source .venv/bin/activate`` in one block is in effect in the next ones, and in the Python
snippets' ``os.environ``), as in one terminal.

Matching transcripts: lines are compared with runs of blanks made one, blank lines and table
rules (``───``) left out, times, hexadecimal ids and digests (12 digits or more) and token
secrets replaced by placeholders; a line ``...`` stands for any lines, and ``...`` inside a line
for any text.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

RUN = {"sh", "python", "console"}
NOT_RUN = {"", "text", "yaml", "ebnf"}
DRIVER = Path(__file__).with_name("snippet_driver.py")
_FENCE = re.compile(r"^(\s*)(```+)\s*(.*)$")


@dataclass(frozen=True)
class Block:
    document: str
    line: int  # 1-based line of the opening fence
    language: str
    attributes: dict[str, str] = field(default_factory=dict)  # word=value after the language; a bare word maps to ""
    text: str = ""

    @property
    def runs(self) -> bool:
        return self.language in RUN and "not-run" not in self.attributes

    @property
    def where(self) -> str:
        return f"{self.document}:{self.line}"


def blocks(path: Path, name: str) -> list[Block]:
    """The fenced blocks of a Markdown file, indented ones (in list items) included."""
    found: list[Block] = []
    lines = path.read_text().splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, fence, info = opening.groups()
        words = info.split()
        body: list[str] = []
        end = index + 1
        while end < len(lines) and lines[end].strip() != fence:
            body.append(lines[end][len(indent) :] if lines[end].startswith(indent) else lines[end].lstrip())
            end += 1
        attributes = {word.partition("=")[0]: word.partition("=")[2] for word in words[1:]}
        found.append(Block(name, index + 1, words[0] if words else "", attributes, "\n".join(body) + "\n"))
        index = end + 1
    return found


# --- transcripts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    script: str
    expected: list[str]  # the transcript lines under it, ^C excluded
    interrupted: bool

    @property
    def should_fail(self) -> bool:
        return any(line.startswith("error:") for line in self.expected)


def commands(block: Block) -> list[Command]:
    """A ``console`` block's commands with the output shown for each."""
    found: list[Command] = []
    script: list[str] = []
    expected: list[str] = []
    lines = block.text.splitlines()
    index = 0

    def close() -> None:
        if script:
            interrupted = "^C" in expected
            shown = expected[: expected.index("^C")] if interrupted else expected
            found.append(Command("\n".join(script), list(shown), interrupted))

    while index < len(lines):
        line = lines[index]
        if line.startswith("$ "):
            close()
            script, expected = [line[2:]], []
            while script[-1].endswith("\\") and index + 1 < len(lines):
                index += 1
                script.append(lines[index])
        else:
            expected.append(line)
        index += 1
    close()
    return found


_RULE = re.compile(r"^[\s─]+$")
_VOLATILE = [
    (re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?"), "<time>"),
    (re.compile(r"myd_[A-Za-z0-9_-]+"), "<secret>"),
    (re.compile(r"\b[0-9a-f]{12,64}\b"), "<hex>"),
]


def normalized(text: str) -> list[str]:
    lines = []
    for raw in text.splitlines():
        if not raw.strip() or _RULE.match(raw):
            continue
        line = " ".join(raw.split())
        for pattern, placeholder in _VOLATILE:
            line = pattern.sub(placeholder, line)
        lines.append(line)
    return lines


def _line_matches(expected: str, actual: str) -> bool:
    if "..." not in expected:
        return expected == actual
    pattern = ".*".join(re.escape(part) for part in expected.split("..."))
    return re.fullmatch(pattern, actual) is not None


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether the normalized ``actual`` lines are what ``expected`` (normalized) shows."""
    memo: dict[tuple[int, int], bool] = {}

    def match(e: int, a: int) -> bool:
        if (e, a) not in memo:
            if e == len(expected):
                result = a == len(actual)
            elif expected[e] == "...":
                result = any(match(e + 1, rest) for rest in range(a, len(actual) + 1))
            else:
                result = a < len(actual) and _line_matches(expected[e], actual[a]) and match(e + 1, a + 1)
            memo[(e, a)] = result
        return memo[(e, a)]

    return match(0, 0)


# --- the session ---------------------------------------------------------------------------


class DocumentFailed(AssertionError):
    pass


class Session:
    """One user's terminal in ``folder``: a shell whose exported variables, folder and ``$?``
    carry over between commands (kept under ``state``), and per document one Python interpreter
    for the snippets."""

    def __init__(self, folder: Path, state: Path, env: dict[str, str]) -> None:
        self.folder = folder
        self.state = state
        state.mkdir(parents=True, exist_ok=True)
        (state / "status").write_text("0")
        subprocess.run(
            ["bash", "-c", f"{self._save}"], cwd=folder, env=env, check=True, capture_output=True, timeout=30
        )
        self._python: subprocess.Popen[bytes] | None = None
        self._answers: int | None = None

    @property
    def _save(self) -> str:
        return f"export -p > {self.state}/env.sh; env -0 > {self.state}/env0; pwd > {self.state}/cwd"

    def _script(self, body: str, *, strict: bool) -> str:
        status = (self.state / "status").read_text().strip()
        return "\n".join(
            [
                f"source {self.state}/env.sh",
                f"trap 'status=$?; {self._save}; echo $status > {self.state}/status' EXIT",
                # a script stops at its first failure; a transcript's next command sees the last one's $?
                "set -e -o pipefail; trap 'echo \"failed (exit $?): $BASH_COMMAND\" >&2' ERR"
                if strict
                else f"(exit {status})",
                body,
            ]
        )

    @property
    def cwd(self) -> Path:
        return Path((self.state / "cwd").read_text().strip())

    @property
    def env(self) -> dict[str, str]:
        pairs = (self.state / "env0").read_bytes().split(b"\0")
        return dict(pair.decode().split("=", 1) for pair in pairs if b"=" in pair)

    def _start(self, body: str, *, strict: bool) -> tuple[subprocess.Popen[bytes], Path]:
        output = self.state / "output"
        with output.open("wb") as sink:
            process = subprocess.Popen(
                ["bash", "-c", self._script(body, strict=strict)],
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return process, output

    def _finish(self, process: subprocess.Popen[bytes], timeout: float, what: str) -> int:
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise DocumentFailed(f"{what}: still running after {timeout:g} s") from None

    def shell(self, block: Block, timeout: float = 600) -> None:
        process, output = self._start(block.text, strict=True)
        status = self._finish(process, timeout, block.where)
        if status != 0:
            raise DocumentFailed(f"{block.where}: the sh block failed:\n{output.read_text()[-6000:]}")

    def console(self, block: Block, timeout: float = 300) -> None:
        for command in commands(block):
            what = f"{block.where}: $ {command.script}"
            process, output = self._start(command.script, strict=False)
            expected = normalized("\n".join(command.expected))
            if command.interrupted:
                self._interrupt_once_shown(process, output, expected, timeout, what)
            status = self._finish(process, timeout, what)
            actual = output.read_text()
            if command.interrupted:  # what it printed after the lines shown is not checked
                ok_status, ok_output = status in (0, 130), matches([*expected, "..."], normalized(actual))
            else:
                ok_status, ok_output = (status != 0) == command.should_fail, matches(expected, normalized(actual))
            if not (ok_status and ok_output):
                raise DocumentFailed(
                    f"{what}\nexit status {status} (the transcript expects "
                    f"{'failure' if command.should_fail else 'success'})\n--- shown\n"
                    + "\n".join(command.expected)
                    + f"\n--- printed\n{actual[-6000:]}"
                )

    def _interrupt_once_shown(
        self, process: subprocess.Popen[bytes], output: Path, expected: list[str], timeout: float, what: str
    ) -> None:
        """Ctrl-C to ``process`` once its output starts with the ``expected`` lines."""
        deadline = time.monotonic() + timeout
        while not matches([*expected, "..."], normalized(output.read_text())):
            if process.poll() is not None or time.monotonic() > deadline:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
                raise DocumentFailed(
                    f"{what}\nnever printed what the transcript shows before ^C:\n{output.read_text()[-6000:]}"
                )
            time.sleep(0.1)
        os.killpg(process.pid, signal.SIGINT)

    def python(self, block: Block, timeout: float = 600) -> None:
        if "file" in block.attributes:
            path = self.cwd / block.attributes["file"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(block.text)
            return
        if self._python is None:
            read, write = os.pipe()
            with (self.state / "python.log").open("ab") as log:
                self._python = subprocess.Popen(
                    [sys.executable, str(DRIVER), str(write)],
                    stdin=subprocess.PIPE,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    pass_fds=(write,),
                    start_new_session=True,
                )
            os.close(write)
            self._answers = read
        assert self._python.stdin is not None and self._answers is not None
        request = {"code": block.text, "filename": block.where, "env": self.env, "cwd": str(self.cwd)}
        self._python.stdin.write((json.dumps(request) + "\n").encode())
        self._python.stdin.flush()
        answer = _read_line(self._answers, timeout, block.where)
        if not answer.get("ok"):
            log = (self.state / "python.log").read_text()[-4000:]
            raise DocumentFailed(f"{block.where}: the snippet failed:\n{answer.get('error')}\n--- output\n{log}")

    def end_document(self) -> None:
        """Closes the document's interpreter (the next document starts a fresh one)."""
        if self._python is not None:
            assert self._python.stdin is not None
            self._python.stdin.close()
            try:
                self._python.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self._python.pid, signal.SIGKILL)
                self._python.wait()
            if self._answers is not None:
                os.close(self._answers)
            self._python = None
            self._answers = None

    def run(self, block: Block) -> None:
        {"sh": self.shell, "console": self.console, "python": self.python}[block.language](block)


def _read_line(fd: int, timeout: float, what: str) -> dict[str, object]:
    data = b""
    deadline = time.monotonic() + timeout
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise DocumentFailed(f"{what}: the snippet is still running after {timeout:g} s")
        chunk = os.read(fd, 65536)
        if not chunk:
            raise DocumentFailed(f"{what}: the Python interpreter ended")
        data += chunk
    answer: dict[str, object] = json.loads(data)
    return answer

"""Runs a document's Python snippets one after another in one namespace, as a user pasting them
into one interpreter would. Started by runnable_docs.Session with the write end of a pipe as its
argument; reads one JSON request per line on stdin ({"code", "filename", "env", "cwd"}) and
answers each with one JSON line on that pipe: {"ok": true} or {"ok": false, "error": traceback}.
The snippets' own output goes to this process's stdout and stderr (a log file)."""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any


def main() -> None:
    answers = os.fdopen(int(sys.argv[1]), "w", buffering=1)
    sys.path[0] = ""  # the current folder, as in an interactive interpreter
    namespace: dict[str, Any] = {"__name__": "__main__"}
    for line in sys.stdin:
        request = json.loads(line)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        try:
            exec(compile(request["code"], request["filename"], "exec"), namespace)
        except BaseException:
            answer = {"ok": False, "error": traceback.format_exc()}
        else:
            answer = {"ok": True}
        sys.stdout.flush()
        sys.stderr.flush()
        answers.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()

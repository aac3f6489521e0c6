"""Warm interpreters for the process runtime: ``python -m modelyard_serving --warm`` processes
started ahead, each waiting to become one replica (``modelyard_serving.warm``), so that a
replica starts without the ~2 s a new Python spends importing grpc, numpy and the model
runtimes before it can load a model.

A waiting interpreter holds nothing but ``PASSED_ON`` and its id (``INTERPRETER_ENV``): no
credential, no setting of this service. It gets its replica's environment, serving credential
included, with its assignment, over its stdin, a pipe only this service holds. One interpreter
becomes one replica and is never handed another: model code may have changed it. The pool is
the leader's: ``run_forever`` (a leader duty) starts interpreters until ``size`` wait, starts
another after each take and each death (later and later while they die waiting), and kills the
waiting ones by pid when it stops. Should this service die instead, their stdin closes and they
exit. They are not replicas: their environment has no ``MARKER_ENV``; one that became a replica
is recognised by its id, which the runtime writes into the replica's folder (process.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from modelyard_deploy.runtimes.process import INTERPRETER_ENV, last_log_line, passed_on, start_server
from modelyard_serving.launch import WAITING, WARM, Assignment

__all__ = ["Interpreter", "WarmPool"]

logger = logging.getLogger(__name__)

_MAX_DELAY = 60.0


@dataclass(frozen=True, slots=True)
class Interpreter:
    """One of the pool's processes."""

    id: str
    process: asyncio.subprocess.Process
    stdin: int
    """The write end of its stdin (non-blocking), closed once its assignment is sent or it is gone."""
    log: Path
    """Where its output goes until it is assigned."""


class WarmPool:
    def __init__(self, directory: Path, size: int) -> None:
        """``directory``: where the waiting interpreters' logs are kept; ``size``: how many wait."""
        self._directory = directory
        self._size = size
        self._waiting: list[Interpreter] = []
        self._wanted = asyncio.Event()
        self._deaths = 0  # in a row, of waiting interpreters: each doubles the wait before the next start

    async def run_forever(self) -> None:
        """Keeps ``size`` interpreters waiting until cancelled, then stops them."""
        try:
            while True:
                self._wanted.clear()
                self._bury()
                while len(self._waiting) < self._size:
                    if self._deaths:
                        await asyncio.sleep(min(_MAX_DELAY, 2.0 ** (self._deaths - 1)))
                    await self._start()
                await self._until_wanted()
        finally:
            await self.close()

    async def _start(self) -> None:
        interpreter_id = secrets.token_hex(8)
        log = self._directory / f"{interpreter_id}.log"
        # A pipe of our own rather than asyncio's: a write to an interpreter that is gone fails
        # there and then (EPIPE), where asyncio's transport would learn it a few callbacks later.
        stdin, stdin_w = os.pipe()
        os.set_blocking(stdin_w, False)
        process = None
        try:
            self._directory.mkdir(parents=True, exist_ok=True)
            process = await start_server({**passed_on(), INTERPRETER_ENV: interpreter_id}, log, WARM, stdin=stdin)
        except OSError as exc:
            self._deaths += 1
            logger.warning("cannot start a warm interpreter: %s", exc)
            return
        finally:
            os.close(stdin)
            if process is None:
                os.close(stdin_w)
        self._waiting.append(Interpreter(interpreter_id, process, stdin_w, log))
        logger.info("started a warm interpreter", extra={"pid": process.pid})

    def _bury(self) -> None:
        """Forgets the interpreters that exited while waiting, saying why."""
        for interpreter in [i for i in self._waiting if i.process.returncode is not None]:
            self._waiting.remove(interpreter)
            os.close(interpreter.stdin)
            self._deaths += 1
            reason = last_log_line(interpreter.log) or "no output"
            logger.warning("a warm interpreter exited with code %s: %s", interpreter.process.returncode, reason)
            interpreter.log.unlink(missing_ok=True)

    async def _until_wanted(self) -> None:
        """Returns when an interpreter was taken or one of those waiting exited."""
        waits: list[asyncio.Future[object]] = [asyncio.ensure_future(self._wanted.wait())]
        waits += [asyncio.ensure_future(i.process.wait()) for i in self._waiting]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    async def assign(self, environment: Mapping[str, str], log: Path) -> Interpreter | None:
        """Makes the longest-waiting warm interpreter a replica with ``environment`` and output to
        ``log``; None when none is warm yet, or it could not take it (it had exited). One still
        importing is left to finish: handed a replica, it could take longer than a new process
        (importing scikit-learn for an ONNX model)."""
        interpreter = next((i for i in self._waiting if last_log_line(i.log).endswith(WAITING)), None)
        if interpreter is None:
            return None
        self._waiting.remove(interpreter)
        self._wanted.set()
        assignment = Assignment(environment, log).encode()
        try:  # a few KiB, which its empty pipe takes at once
            taken = os.write(interpreter.stdin, assignment) == len(assignment)
        except OSError:  # EPIPE: it is gone
            taken = False
        finally:
            os.close(interpreter.stdin)
        if not taken:
            reason = last_log_line(interpreter.log) or "no output"
            logger.warning("a warm interpreter could not take a replica (%s); starting a new one", reason)
            await _kill(interpreter)
            return None
        self._deaths = 0
        interpreter.log.unlink(missing_ok=True)
        return interpreter

    async def close(self) -> None:
        """Kills the waiting interpreters (they hold nothing to save)."""
        waiting, self._waiting = self._waiting, []
        for interpreter in waiting:
            os.close(interpreter.stdin)
        await asyncio.gather(*(_kill(interpreter) for interpreter in waiting))


async def _kill(interpreter: Interpreter) -> None:
    with contextlib.suppress(ProcessLookupError):
        interpreter.process.kill()
    await interpreter.process.wait()
    interpreter.log.unlink(missing_ok=True)

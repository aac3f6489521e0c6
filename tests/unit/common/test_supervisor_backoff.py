"""How long `make run` waits before restarting a process that exited, and how it names the exit."""

from __future__ import annotations

import signal

from modelyard_common.embedded import Backoff, describe_exit


def test_quick_failures_double_the_wait_up_to_the_cap() -> None:
    backoff = Backoff()
    assert [backoff.after_failure(uptime=2.0) for _ in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]
    assert backoff.failures == 8


def test_a_run_that_stayed_up_starts_the_backoff_over() -> None:
    backoff = Backoff()
    for _ in range(4):
        backoff.after_failure(uptime=0.0)
    assert backoff.after_failure(uptime=Backoff.stable_after) == 1
    assert backoff.after_failure(uptime=Backoff.stable_after - 1) == 2


def test_an_exit_is_named_by_its_code_or_its_signal() -> None:
    assert describe_exit(1) == "exited with code 1"
    assert describe_exit(0) == "exited with code 0"
    assert describe_exit(-signal.SIGKILL) == "was killed by SIGKILL"
    assert describe_exit(-200) == "was killed by signal 200"

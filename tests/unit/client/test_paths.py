"""The rules of artifact paths that push, the registry and pull share (modelyard.paths)."""

from __future__ import annotations

import pytest

from modelyard.paths import MAX_NAME_BYTES, nested_pair, path_problem


@pytest.mark.parametrize("path", ["model.onnx", "conf/config.json", "a/b/c/d", "é" * 125, "x" * MAX_NAME_BYTES])
def test_paths_every_file_system_takes_have_no_problem(path: str) -> None:
    assert path_problem(path) is None


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("", "is empty"),
        ("x" * (MAX_NAME_BYTES + 1), "has a part of 251 bytes in UTF-8"),
        ("é" * 126, "has a part of 252 bytes in UTF-8"),
        ("a/" * 513, "bytes long in UTF-8; at most 1024 allowed"),
        ("name-\udcff", "is not valid UTF-8"),  # a non-UTF-8 file name, as os.listdir decodes it
        ("nul\0", "control characters"),
        ("new\nline", "control characters"),
        ("back\\slash", "backslashes"),
        ("/abs", "must be relative"),
        ("a//b", "must be relative"),
        ("trailing/", "must be relative"),
        (".", "must be relative"),
        ("a/../b", "must be relative"),
    ],
)
def test_paths_a_file_system_refuses_say_why(path: str, problem: str) -> None:
    assert problem in (path_problem(path) or "")


def test_a_file_that_is_a_directory_of_another_is_found_whatever_the_order() -> None:
    assert nested_pair(["b/c", "a", "a/x/y"]) == ("a", "a/x/y")
    assert nested_pair(["m/w.bin", "m"]) == ("m", "m/w.bin")
    assert nested_pair(["a", "ab/c", "a.bin", "a-b/a"]) is None  # shared prefixes are not directories
    assert nested_pair([]) is None

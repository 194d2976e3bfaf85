"""Helpers of the CLI tests: run ``mouselift`` in-process and check one-line errors."""

from __future__ import annotations

import pytest

from mouselift.cli.main import main


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """``(exit status, stdout, stderr)`` of ``mouselift ARGS``."""
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


def one_line_error(code: int, err: str, *fragments: str) -> None:
    """A user error: status 2, one ``error: …`` line containing every fragment."""
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, err

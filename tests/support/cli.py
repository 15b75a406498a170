"""Assertions shared by the command-line tests of every folder."""

from __future__ import annotations


def assert_input_error(result, *fragments):
    """Bad input: exit status 2, one 'error: ' line on stderr holding every fragment, and no traceback."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    err = result.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in err[0], err[0]

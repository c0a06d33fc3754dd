"""hsmkms.config and the ``hsmkms`` command line: flags over environment over defaults; every
setting documented in ``hsmkms serve --help`` and in the README's table."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from hsmkms import cli
from hsmkms.config import SETTINGS, Config

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults() -> None:
    config = Config.from_env(environ={})
    for f in fields(Config):
        _var, default, _help = SETTINGS[f.name]
        assert str(getattr(config, f.name)) == default, f.name
    assert config.port == 4599
    assert config.data_dir == Path(".hsmkms")
    assert config.timing == "fast"
    assert config.max_body == 1048576
    assert Config() == config


def test_every_field_is_a_setting() -> None:
    assert [f.name for f in fields(Config)] == list(SETTINGS)


def test_precedence() -> None:
    env = {"HSMKMS_PORT": "5000", "HSMKMS_REGION": "eu-west-1", "HSMKMS_TIMING": "realistic"}
    config = Config.from_env(environ=env)
    assert (config.port, config.region, config.timing) == (5000, "eu-west-1", "realistic")
    config = Config.from_env({"port": "6000", "region": None}, environ=env)
    assert (config.port, config.region) == (6000, "eu-west-1")


@pytest.mark.parametrize(("env", "message"), [
    ({"HSMKMS_TIMING": "slow"}, "timing must be 'fast' or 'realistic'"),
    ({"HSMKMS_PORT": "http"}, "--port (HSMKMS_PORT) must be a whole number, not 'http'"),
    ({"HSMKMS_MAX_BODY": "-1"}, "--max-body (HSMKMS_MAX_BODY) must not be negative, not '-1'"),
])
def test_bad_values(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Config.from_env(environ=env)


def test_help_lists_every_setting() -> None:
    serve = cli.build_parser()._subparsers._group_actions[0].choices["serve"]  # noqa: SLF001
    text = serve.format_help()
    for name, (var, default, _help) in SETTINGS.items():
        assert "--" + name.replace("_", "-") in text
        assert var in text
        assert repr(default) in text


def test_readme_table_lists_every_setting() -> None:
    text = README.read_text()
    for name, (var, default, _help) in SETTINGS.items():
        flag = "--" + name.replace("_", "-")
        row = next((line for line in text.splitlines() if line.startswith(f"| `{flag}` |")),
                   None)
        assert row is not None, f"README has no row for {flag}"
        assert f"`{var}`" in row
        if default:  # an empty default (root key, allowed hosts) reads "(generated)"/"(none)"
            assert f"`{default}`" in row


def test_bad_flag_value_is_a_clean_error(tmp_path: Path) -> None:
    proc = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "hsmkms", "serve", "--port", "http", "--data-dir",
         str(tmp_path)], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "hsmkms: --port (HSMKMS_PORT) must be a whole number, not 'http'"


def test_readme_tells_a_newcomer_how_to_install_start_over_and_reset_the_clock() -> None:
    text = README.read_text()
    assert text.splitlines()[7:11] == [  # the two set-up commands, unchanged
        "```sh",
        "python3 -m pip install -e '.[test]' && hsmkms serve --demo",
        "python3 -m pip install -e '.[test]' && python3 -m pytest",
        "```"]
    assert "hsmkms is not on PyPI" in text
    assert "python3 -m venv .venv" in text
    assert "pip install hsmkms" not in text
    assert "`hsmkms serve --demo --fresh`" in text
    assert "`hsmkms clock reset --data-dir <dir>`" in text
    assert "Keep `root.key` apart from the data dir" in text
    assert "`<data-dir>/demo.json` (mode 0600" in text
    serve = cli.build_parser()._subparsers._group_actions[0].choices["serve"]  # noqa: SLF001
    assert "--fresh" in serve.format_help()

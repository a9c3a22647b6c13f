"""The command lines' shared parts (conf/cli.py) and the `wikifilms` command."""

from __future__ import annotations

import tomllib

import pytest

from conf import load_config
from conf.cli import to_toml
from wikifilms.cli import COMMANDS, main


def test_show_config_prints_toml_that_reads_back_as_the_same_configuration(tmp_path):
    cfg = load_config("test", ["train.dim=7", 'links.stop_list=["United States"]'])
    text = to_toml(cfg)
    assert text.startswith("# effective configuration: conf/base.toml + ")
    assert tomllib.loads(text) == dict(cfg)
    (tmp_path / "mine.toml").write_text(text)
    assert load_config(str(tmp_path / "mine.toml")) == cfg


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_says_what_it_does_and_shows_an_example(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "example:" in out and "usage:" in out


def test_show_config_through_wikifilms(capsys):
    with pytest.raises(SystemExit) as done:
        main(["sample", "--out", "unused", "--show-config", "-p", "sample.films=12"])
    assert done.value.code == 0
    assert tomllib.loads(capsys.readouterr().out)["sample"]["films"] == 12


def test_wikifilms_lists_its_commands_and_refuses_others(capsys):
    assert main([]) == 2 and "commands:" in capsys.readouterr().out
    assert main(["--help"]) == 0
    assert main(["nope"]) == 2 and "no command 'nope'" in capsys.readouterr().err

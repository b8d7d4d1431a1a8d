from tests.cli_reference import README, current_section, reference_text


def test_readme_command_reference_matches_help() -> None:
    """README.md's command reference is --help; regenerate with `python -m tests.cli_reference`."""
    assert current_section(README.read_text(encoding="utf-8")) == reference_text()


def test_readme_starts_with_the_two_commands() -> None:
    head = README.read_text(encoding="utf-8").splitlines()[:8]
    assert any(line.startswith("make run") for line in head)
    assert any(line.startswith("make test") for line in head)

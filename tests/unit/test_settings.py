from pathlib import Path

import pytest

from followup.errors import ConfigError
from followup.settings import load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "followup.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_any_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings(environ={})
    assert s.database_url == "sqlite:///var/followup.db"
    assert not s.uses_smtp
    assert s.smtp.verify_tls is True
    assert s.secretariat.timezone == "America/Costa_Rica"


def test_toml_then_environment_precedence(tmp_path: Path) -> None:
    cfg = write(tmp_path, '[smtp]\nhost = "mail.example.org"\nport = 465\n[secretariat]\nlanguage = "es"\n')
    s = load_settings(cfg, environ={"FOLLOWUP_SMTP__PORT": "2525", "FOLLOWUP_DATABASE_URL": "sqlite:///x.db"})
    assert s.smtp.host == "mail.example.org"  # from the file
    assert s.smtp.port == 2525  # the environment wins over the file
    assert s.secretariat.language == "es"
    assert s.database_url == "sqlite:///x.db"


def test_config_path_from_environment_and_default_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = write(tmp_path, '[imap]\nfolder = "Replies"\n')
    assert load_settings(environ={"FOLLOWUP_CONFIG": str(cfg)}).imap.folder == "Replies"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "followup.toml").write_text('[imap]\nfolder = "Default"\n', encoding="utf-8")
    assert load_settings(environ={}).imap.folder == "Default"
    # an explicit --config beats both
    assert load_settings(cfg, environ={}).imap.folder == "Replies"


def test_secret_from_file_and_never_in_repr(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret-value\n", encoding="utf-8")
    s = load_settings(environ={"FOLLOWUP_SMTP__PASSWORD_FILE": str(secret), "FOLLOWUP_CONFIG": ""})
    assert s.smtp.password.get_secret_value() == "s3cret-value"
    assert "s3cret" not in repr(s)


def test_unrelated_followup_variables_are_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings(environ={"FOLLOWUP_TEST_POSTGRES_URL": "postgresql://x", "FOLLOWUP_NOW": "2026-01-01"})
    assert s.database_url.startswith("sqlite")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"FOLLOWUP_SMTP__PORT": "abc"}, "setting smtp.port = 'abc'"),
        ({"FOLLOWUP_SECRETARIAT__TIMEZONE": "Mars/Olympus"}, "expected an IANA time zone"),
        ({"FOLLOWUP_SECRETARIAT__LANGUAGE": "fr"}, "expected one of en, es"),
        ({"FOLLOWUP_SMTP__SECURITY": "ssl"}, "setting smtp.security = 'ssl'"),
        ({"FOLLOWUP_SMTP__PASSWORD_FILE": "/nonexistent/pw"}, "cannot read secret file"),
    ],
)
def test_bad_values_name_key_and_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_settings(environ=env)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_key_and_broken_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown setting 'smtp.hots'"):
        load_settings(write(tmp_path, '[smtp]\nhots = "x"\n'), environ={})
    with pytest.raises(ConfigError, match="followup.toml"):
        load_settings(write(tmp_path, "[smtp\n"), environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", environ={})


def test_list_settings_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings(environ={"FOLLOWUP_SCHEDULE__MEETING_ROUND_DAYS": "30, 10,3"})
    assert s.schedule.meeting_round_days == (30, 10, 3)


def test_example_config_is_valid_and_complete() -> None:
    """config/followup.example.toml parses, and documents every key of the settings."""
    import tomllib

    from followup.settings import Settings

    example = Path(__file__).resolve().parents[2] / "config" / "followup.example.toml"
    s = load_settings(example, environ={})
    assert isinstance(s, Settings)
    data = tomllib.loads(example.read_text(encoding="utf-8"))
    for name, field in Settings.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and hasattr(ann, "model_fields"):
            assert name in data, f"section [{name}] missing from the example"
            for key in ann.model_fields:
                assert key in data[name] or f"# {key} =" in example.read_text(encoding="utf-8"), f"{name}.{key}"
        else:
            assert name in data or f"# {name} =" in example.read_text(encoding="utf-8"), name


def test_unknown_environment_variable_names_the_closest_setting() -> None:
    from followup.settings import unknown_environment

    warnings = unknown_environment(
        {
            "FOLLOWUP_SMTP_HOST": "mail.example.org",
            "FOLLOWUP_SMTP__PORT": "25",
            "FOLLOWUP_SMTP__PASSWORD_FILE": "/run/secrets/smtp",
            "FOLLOWUP_DATABASE_URL": "sqlite://",
            "FOLLOWUP_NOW": "2026-11-30",
            "FOLLOWUP_CONFIG": "x.toml",
            "FOLLOWUP_HOME": "/srv",
            "FOLLOWUP_DEBUG": "1",
            "FOLLOWUP_TEST_POSTGRES_URL": "postgresql://",
            "FOLLOWUP_NOTHING_LIKE_IT": "1",
            "PATH": "/bin",
        }
    )
    assert warnings == [
        "environment variable FOLLOWUP_NOTHING_LIKE_IT names no setting, ignored",
        "environment variable FOLLOWUP_SMTP_HOST names no setting, ignored: did you mean FOLLOWUP_SMTP__HOST?",
    ]

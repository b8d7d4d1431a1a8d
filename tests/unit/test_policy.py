from __future__ import annotations

from pathlib import Path

import pytest

from followup.errors import ConfigError
from followup.schedule.policy import (
    BUNDLED_POLICIES,
    load_policies,
    load_schedule_policies,
    max_lead_days,
    max_reach_days,
    parse_offset,
    policy_for,
    step_key,
)
from followup.settings import ScheduleSettings
from followup.store.vocabulary import NOTIFICATION_KINDS


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policies.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_bundled_default_policy_has_the_documented_rhythm() -> None:
    assert BUNDLED_POLICIES.is_file()
    policies = load_policies(None)
    default = policies["default"]
    assert [(s.key, s.kind, s.ordinal) for s in default.steps] == [
        ("-14d", "reminder", 1),
        ("-3d", "reminder", 2),
        ("0d", "due_today", 1),
        ("+1d", "overdue", 1),
        ("+8d", "overdue", 2),
        ("+15d", "overdue", 3),
        ("+22d", "escalation", 1),
        ("+29d", "overdue", 4),
    ]
    escalation = default.step("+22d")
    assert escalation.cc_alternate
    assert escalation.cc_secretariat
    assert not default.step("+1d").cc_alternate
    assert default.lead_days == 14
    assert default.horizon_days == 29
    assert default.catch_up_days == 7
    assert all(s.kind in NOTIFICATION_KINDS for p in policies.values() for s in p.steps)


def test_bounds_over_all_policies() -> None:
    policies = load_policies(None)
    assert max_lead_days(policies) == 21  # meeting_input's -21d
    assert max_reach_days(policies) == 29 + 7


def test_step_keys_round_trip() -> None:
    for offset in (-366, -14, -1, 0, 1, 8, 366):
        assert parse_offset(step_key(offset)) == offset
    assert step_key(0) == "0d"
    assert step_key(8) == "+8d"
    assert parse_offset("7d") == 7
    with pytest.raises(ValueError, match="not an offset"):
        parse_offset("-2w")


def test_repeat_gives_way_to_an_explicit_step(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[policies.weekly]
steps = [
  { at = "+1d", kind = "overdue" },
  { at = "+15d", kind = "escalation", cc_secretariat = true },
]
repeat = { after = "+1d", every_days = 7, times = 3 }
""",
    )
    weekly = load_policies(path)["weekly"]
    assert [(s.key, s.kind, s.ordinal) for s in weekly.steps] == [
        ("+1d", "overdue", 1),
        ("+8d", "overdue", 2),
        ("+15d", "escalation", 1),
        ("+22d", "overdue", 3),
    ]
    assert weekly.lead_days == 0


def test_steps_are_sorted_whatever_the_file_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[policies.shuffled]
steps = [{ at = "+1d", kind = "overdue" }, { at = "-7d", kind = "reminder" }, { at = "-30d", kind = "reminder" }]
""",
    )
    steps = load_policies(path)["shuffled"].steps
    assert [(s.key, s.ordinal) for s in steps] == [("-30d", 1), ("-7d", 2), ("+1d", 1)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('steps = [{ at = "+3d", kind = "reminder" }]', r"policy 'p', step 1 \(\+3d\): a reminder must come before"),
        ('steps = [{ at = "-3d", kind = "overdue" }]', r"step 1 \(-3d\): an overdue step must come after"),
        ('steps = [{ at = "-1d", kind = "due_today" }]', r'step 1 \(-1d\): a due_today step must be at "0d"'),
        ('steps = [{ at = "-3d", kind = "nag" }]', r"step 1 \(-3d\): kind 'nag' is not one of"),
        ('steps = [{ at = "-3x", kind = "reminder" }]', r"step 1: '-3x' is not an offset"),
        ('steps = [{ kind = "reminder" }]', r'step 1: missing "at"'),
        (
            'steps = [{ at = "-3d", kind = "reminder" }, { at = "-3d", kind = "reminder" }]',
            r"step 2 \(-3d\): two steps on the same day",
        ),
        ('steps = [{ at = "-3d", kind = "reminder", cc = true }]', r"step 1 \(-3d\): unknown key 'cc'"),
        ('steps = [{ at = "-3d", kind = "reminder", cc_secretariat = "yes" }]', r"cc_secretariat must be true or"),
        ('steps = [{ at = "-4000d", kind = "reminder" }]', r"step 1: .* is not an offset"),
        ('steps = [{ at = "-367d", kind = "reminder" }]', r"more than 366 days"),
        ("steps = []", r"policy 'p': steps must be a non-empty list"),
        ('steps = [{ at = "+1d", kind = "overdue" }]\ncatch_up_days = -1', r"catch_up_days must be"),
        ('steps = [{ at = "+1d", kind = "overdue" }]\nwhen = 1', r"policy 'p': unknown key 'when'"),
        (
            'steps = [{ at = "+1d", kind = "overdue" }]\nrepeat = { after = "+2d", every_days = 7, times = 2 }',
            r"repeat: after = '\+2d' must name an overdue step",
        ),
        (
            'steps = [{ at = "+1d", kind = "overdue" }]\nrepeat = { after = "+1d", every_days = 0, times = 2 }',
            r"repeat: every_days must be a whole number",
        ),
    ],
)
def test_invalid_policy_is_one_line_naming_policy_and_step(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path, f"[policies.p]\n{body}\n")
    with pytest.raises(ConfigError, match=message) as info:
        load_policies(path)
    text = str(info.value)
    assert "\n" not in text
    assert str(path) in text


def test_file_level_problems(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_policies(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="policies.toml"):
        load_policies(write(tmp_path, "[policies.p\n"))
    with pytest.raises(ConfigError, match="no policies defined"):
        load_policies(write(tmp_path, "# empty\n"))
    with pytest.raises(ConfigError, match="unknown top-level key 'default'"):
        load_policies(write(tmp_path, '[default]\nsteps = [{ at = "-1d", kind = "reminder" }]\n'))


def test_policy_for_falls_back_to_the_default_and_names_unknown_ones() -> None:
    policies = load_policies(None)
    assert policy_for(policies, None, "default").name == "default"
    assert policy_for(policies, "light", "default").name == "light"
    with pytest.raises(ConfigError, match=r"reminder policy 'weekly' is not defined \(known: default, light"):
        policy_for(policies, "weekly", "default")


def test_schedule_settings_choose_the_file_and_the_default(tmp_path: Path) -> None:
    assert "default" in load_schedule_policies(ScheduleSettings())
    path = write(tmp_path, '[policies.house]\nsteps = [{ at = "-5d", kind = "reminder" }]\n')
    assert list(load_schedule_policies(ScheduleSettings(policies_file=path, default_policy="house"))) == ["house"]
    with pytest.raises(ConfigError, match=r"schedule.default_policy = 'default' is not defined in .*policies.toml"):
        load_schedule_policies(ScheduleSettings(policies_file=path))

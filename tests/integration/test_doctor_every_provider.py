"""`veokit doctor` reports every provider it is asked about, fal included (which has no free model check), and
says what each one needs when nothing is configured."""

from __future__ import annotations

from pathlib import Path

from veokit.emulator import EmulatorServer

from .test_checks_before_paying import veokit


def test_fal_with_a_rejected_key_fails_and_a_good_key_says_what_was_checked(
    tmp_path: Path, emulator: EmulatorServer
) -> None:
    bad = veokit(tmp_path, "doctor", "--provider", "fal", FAL_KEY="wrong-key", VEOKIT_FAL_BASE_URL=emulator.base_url)
    assert bad.returncode == 1, (bad.stdout, bad.stderr)
    assert "FAIL fal" in bad.stderr and "wrong-key" not in bad.stdout + bad.stderr
    good = veokit(
        tmp_path, "doctor", "--provider", "fal", FAL_KEY="test-fal-key", VEOKIT_FAL_BASE_URL=emulator.base_url
    )
    assert good.returncode == 0, (good.stdout, good.stderr)
    assert "ok  fal: credentials accepted" in good.stdout and "model itself is not checked" in good.stdout


def test_with_nothing_configured_it_lists_what_each_provider_needs(tmp_path: Path) -> None:
    p = veokit(tmp_path, "doctor")
    assert p.returncode == 2
    for line in (
        "kie: set KIE_API_KEY",
        "fal: set FAL_KEY",
        "replicate: set REPLICATE_API_TOKEN",
        "emulator: needs nothing",
    ):
        assert line in p.stderr, p.stderr

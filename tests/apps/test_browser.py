"""A machine without Chromium: browser tests skip with one line, except under CI, where they
fail (README's `make test` needs only Python and make)."""

import browser
import pytest


@pytest.fixture
def no_chromium(monkeypatch, tmp_path):
    monkeypatch.setattr(browser, "PROGRAMS", ((str(tmp_path / "no-chromium"), "no-chromium"),))


def test_a_missing_browser_skips_with_how_to_install_it(no_chromium, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        browser.headless_chromium(100, 100)
    message = str(skipped.value)
    assert "no-chromium is missing" in message and browser.INSTALL in message
    assert "\n" not in message


def test_a_missing_browser_fails_under_ci(no_chromium, monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no-chromium is missing"):
        browser.headless_chromium(100, 100)

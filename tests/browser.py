"""Headless Chromium for the tests that look at a page as a person would (the serve page, the
report index). Debian's chromium and chromedriver: `.ci/run` installs them. Without them the
browser tests skip with one line saying how to install them, except where ``CI`` is set, where a
missing browser fails: CI must never pass without looking."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

INSTALL = "sudo apt-get install chromium chromium-driver"
PROGRAMS = (("/usr/bin/chromium", "chromium"), ("/usr/bin/chromedriver", "chromedriver"))


def chromium_paths() -> tuple[str, str]:
    """The chromium and chromedriver programs; a skip (a fail under CI) if one is missing."""
    found = []
    for fixed, name in PROGRAMS:
        path = fixed if Path(fixed).is_file() else shutil.which(name)
        if path is None:
            message = f"{name} is missing, and this browser test needs it: {INSTALL}"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
        found.append(path)
    return found[0], found[1]


def headless_chromium(
    width: int, height: int, prefs: dict | None = None, arguments: tuple[str, ...] = ()
) -> webdriver.Chrome:
    """Debian's Chromium, headless, with a window of ``width`` x ``height`` CSS pixels and any
    further command-line ``arguments``."""
    binary, driver_path = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", *arguments):
        options.add_argument(argument)
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console, CSP reports
    if prefs:
        options.add_experimental_option("prefs", prefs)
    return webdriver.Chrome(options=options, service=Service(driver_path))

"""Screenshot of the ``colorize serve`` page after one colourisation (for ``docs/serve.png``).

Usage: ``python tools/screenshot_serve.py --photo FILE [--model NAME | --checkpoint PATH]
[-o docs/serve.png]``. Serves the page on a free port of 127.0.0.1, uploads the photo in headless
Chromium (window 1280 x 800), waits for the panels and saves the window as a PNG, reduced to 256
colours if it is over ``--max-kb``. Needs Debian's chromium and chromium-driver. Use a trained
model: an untrained one gives a page of brown photos.
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
from pathlib import Path

from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from colorize_core.apps import serve, sources

WINDOW = (1280, 800)
WAIT_SECONDS = 300  # a shipped model on the CPU, loaded on first use
PANELS_LOADED = """return ["gray", "colour"].every((id) => {
  const image = document.getElementById(id);
  return image.complete && image.naturalWidth > 0;
});"""


def chromium() -> webdriver.Chrome:
    """Headless Debian chromium at ``WINDOW`` size."""
    paths = [shutil.which(name) for name in ("chromium", "chromedriver")]
    if None in paths:
        sys.exit("needs chromium and chromedriver: sudo apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--hide-scrollbars")
    driver = webdriver.Chrome(options=options, service=Service(paths[1]))
    # the page itself at WINDOW, whatever the headless window's frame takes
    metrics = {"width": WINDOW[0], "height": WINDOW[1], "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    return driver


def colourise_on_page(driver: webdriver.Chrome, url: str, model: str, photo: Path) -> None:
    """Open the page, choose ``model``, upload ``photo`` and wait for the panels (or exit with
    the page's error message)."""
    driver.get(url)
    Select(driver.find_element(By.ID, "model")).select_by_value(model)
    driver.find_element(By.ID, "file").send_keys(str(photo.resolve()))
    result, error = driver.find_element(By.ID, "result"), driver.find_element(By.ID, "error")
    wait = WebDriverWait(driver, WAIT_SECONDS)
    wait.until(lambda d: result.is_displayed() or error.is_displayed(), "no result in time")
    if error.is_displayed():
        sys.exit(f"the page says: {error.text}")
    wait.until(lambda d: d.execute_script(PANELS_LOADED), "the panels did not load")


def small_png(png: bytes, max_kb: int) -> bytes:
    """``png`` re-saved optimised, then with fewer colours (256, 128, 64) while over ``max_kb``."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    for colours in (None, 256, 128, 64):
        reduced = image if colours is None else image.quantize(colours, dither=Image.Dither.NONE)
        buffer = io.BytesIO()
        reduced.save(buffer, format="PNG", optimize=True)
        if buffer.tell() <= max_kb * 1000:
            break
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", type=Path, required=True, help="the photo to colourise")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--model", default="scenes", help="a shipped model (default: scenes)")
    which.add_argument("--checkpoint", help="a run folder or checkpoint instead")
    parser.add_argument("-o", "--output", type=Path, default=Path("docs/serve.png"))
    parser.add_argument("--max-kb", type=int, default=300, help="default: %(default)s")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)

    models = sources.model_choices([args.checkpoint] if args.checkpoint else [])
    model = sources.checkpoint_name(Path(args.checkpoint)) if args.checkpoint else args.model
    if model not in models:
        parser.error(f"no model {model!r}; available: {', '.join(models) or 'none'}")
    server = serve.BackgroundServer(serve.create_app({model: models[model]}, args.device))
    driver = chromium()
    try:
        colourise_on_page(driver, server.url, model, args.photo)
        png = small_png(driver.get_screenshot_as_png(), args.max_kb)
    finally:
        driver.quit()
        server.stop()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(png)
    print(f"{args.output}: {len(png) / 1000:.0f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

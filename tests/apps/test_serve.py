"""The web page (``colorize serve``): uploads through the API with FastAPI's TestClient, then the
whole page in a real headless Chromium (upload, wait, download, errors). The model is a tiny
untrained conv_ae: these tests check the plumbing, not the colours."""

from __future__ import annotations

import io
import struct
import threading
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from browser import headless_chromium  # pytest puts tests/ on sys.path
from fastapi.testclient import TestClient
from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from colorize_core.apps import cli, serve, sources
from colorize_core.data.color import rgb_to_lab
from colorize_core.training.config import ExperimentConfig
from colorize_core.training.loading import build_predictor

MAX_DL = 1.0  # Lab units: the page keeps the upload's own L, up to 8-bit rounding
WIDTH, HEIGHT = 90, 62  # not multiples of 8, so a resize slip shows in the download's size
BROWSER_WAIT = 60  # seconds the browser test waits for anything


def tiny_model() -> tuple[torch.nn.Module, ExperimentConfig]:
    """An untrained conv_ae at 32 px, built in a blink (as tests/models/test_heads.py
    builds one)."""
    torch.manual_seed(0)
    config = ExperimentConfig.from_params(model="conv_ae", model_kwargs={"base": 8}, image_size=32)
    return build_predictor(config.model).eval(), config


class Slow(torch.nn.Module):
    """Wraps a model: each forward takes ``seconds``; records how many ran at once (``most``),
    across every Slow sharing ``tracker``, and sets ``tracker["entered"]`` on entry."""

    def __init__(self, inner: torch.nn.Module, seconds: float, tracker: dict) -> None:
        super().__init__()
        self.inner, self.seconds, self.tracker = inner, seconds, tracker

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        with self.tracker["lock"]:
            self.tracker["active"] += 1
            self.tracker["most"] = max(self.tracker["most"], self.tracker["active"])
        self.tracker["entered"].set()
        time.sleep(self.seconds)
        try:
            return self.inner(lightness)
        finally:
            with self.tracker["lock"]:
                self.tracker["active"] -= 1


def slow_loader(seconds: float, tracker: dict) -> sources.Loader:
    def load():
        model, config = tiny_model()
        return Slow(model, seconds, tracker), config

    return load


def new_tracker() -> dict:
    return {"lock": threading.Lock(), "active": 0, "most": 0, "entered": threading.Event()}


def photo(height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """A colourful (H, W, 3) uint8 photo: smooth hues and a red block."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    rgb = np.stack([np.sin(7 * x) * 0.5 + 0.5, np.cos(5 * y) * 0.5 + 0.5, (x + y) / 2], -1)
    rgb[height // 3 : height // 2, width // 4 : width // 2] = (0.9, 0.2, 0.1)
    return (rgb * 255 + 0.5).astype(np.uint8)


def encode(image: Image.Image, fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def lightness(rgb: np.ndarray) -> np.ndarray:
    return rgb_to_lab(torch.from_numpy(rgb.copy()).permute(2, 0, 1).float() / 255)[0].numpy()


def assert_keeps_lightness(upload: bytes, download: bytes) -> None:
    """The download is the upload's pixel size, with the upload's own L."""
    original = np.asarray(Image.open(io.BytesIO(upload)).convert("RGB"))
    result = Image.open(io.BytesIO(download))
    assert result.format == "PNG" and result.size == (original.shape[1], original.shape[0])
    dl = np.abs(lightness(np.asarray(result.convert("RGB"))) - lightness(original))
    assert dl.max() < MAX_DL


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height but whose pixel data is ten zero bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", bytes(10))


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    return encode(Image.fromarray(photo()))


@pytest.fixture(scope="module")
def client():
    with TestClient(serve.create_app({"tiny": tiny_model, "other": tiny_model})) as client:
        yield client


def upload(client: TestClient, data, model: str = "tiny", name: str = "photo.jpg"):
    return client.post("/api/colorize", params={"model": model, "name": name}, content=data)


def error_of(response, status: int) -> str:
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert isinstance(message, str) and message
    return message


# ---------------------------------------------------------------- the API


def test_the_page_offers_every_model_and_has_an_error_element(client):
    page = client.get("/").text
    for element in ('id="file"', 'id="model"', 'id="error"', 'id="status"', 'id="download"'):
        assert element in page
    assert '<option value="tiny">' in page and '<option value="other">' in page
    assert "http" not in page.split("<body>")[1], "the page must not fetch anything from the web"


def test_an_upload_comes_back_full_size_with_its_own_lightness(client, jpeg):
    response = upload(client, jpeg)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["width"], answer["height"]) == (WIDTH, HEIGHT)
    assert answer["was_colour"] and set(answer["panels"]) == {"gray", "colour", "original"}
    assert answer["filename"] == "photo_colorized.png"
    download = client.get(f"/{answer['download']}")
    assert download.headers["content-type"] == "image/png"
    assert 'filename="photo_colorized.png"' in download.headers["content-disposition"]
    assert_keeps_lightness(jpeg, download.content)
    for url in answer["panels"].values():
        panel = Image.open(io.BytesIO(client.get(f"/{url}").content))
        assert panel.format == "JPEG" and panel.size == (WIDTH, HEIGHT)


def test_a_gray_upload_has_no_original_panel(client):
    gray = encode(Image.fromarray(photo()).convert("L"))
    answer = upload(client, gray).json()
    assert not answer["was_colour"] and set(answer["panels"]) == {"gray", "colour"}
    missing = client.get(f"/api/results/{answer['id']}/original.jpg")
    assert "no panel 'original'" in error_of(missing, 404)


def test_transparency_is_kept_in_the_download(client):
    rgba = np.dstack([photo(), np.tile(np.linspace(0, 255, WIDTH).astype(np.uint8), (HEIGHT, 1))])
    answer = upload(client, encode(Image.fromarray(rgba), "PNG"), name="logo.png").json()
    result = Image.open(io.BytesIO(client.get(f"/{answer['download']}").content))
    assert result.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(result)[..., 3], rgba[..., 3])
    assert any("transparency" in note for note in answer["notes"])


def test_a_16_bit_gray_upload_with_a_transparent_level_keeps_its_lightness():
    # the page decodes through images.read_rgb_alpha, as files do: mid gray, not white
    gray = Image.fromarray(np.full((8, 8), 32768, np.uint16))
    buffer = io.BytesIO()
    gray.save(buffer, format="PNG", transparency=0)
    decoded = serve.decode(buffer.getvalue())
    assert decoded.rgb.shape == (8, 8, 3) and abs(int(decoded.rgb.mean()) - 128) <= 1
    assert (decoded.alpha == 255).all()
    nan = io.BytesIO()
    Image.fromarray(np.full((8, 8), np.nan, np.float32)).save(nan, format="TIFF")
    with pytest.raises(serve.HTTPException) as refused:
        serve.decode(nan.getvalue())
    assert refused.value.status_code == 422


def test_bad_uploads_get_a_message(client, jpeg):
    assert "corrupt or truncated" in error_of(upload(client, jpeg[: len(jpeg) // 2]), 422)
    assert "not an image" in error_of(upload(client, b"just some text\n", name="a.txt"), 415)
    assert "no photo" in error_of(upload(client, b""), 400)
    message = error_of(upload(client, jpeg, model="nope"), 400)
    assert "unknown model 'nope'" in message and "tiny, other" in message
    assert "not found" in error_of(client.get("/no/such/page"), 404).lower()


def test_too_many_pixels_are_refused_from_the_header_before_decoding(client):
    # the pixel data is ten bytes: decoding would fail with 422, so 413 means it never started
    message = error_of(upload(client, png_claiming(8000, 6000)), 413)
    assert "8000 x 6000 = 48 megapixels; the limit is 40 megapixels" in message
    assert "too large" in error_of(upload(client, png_claiming(100_000, 100_000)), 413)


def test_caps_are_parameters(jpeg):
    app = serve.create_app({"tiny": tiny_model}, max_bytes=1000, max_pixels=100)
    with TestClient(app) as client:
        assert "the limit is 1000 bytes" in error_of(upload(client, jpeg), 413)
        # without a Content-Length (chunked), the cap is checked while reading
        chunks = (jpeg[i : i + 500] for i in range(0, len(jpeg), 500))
        assert "over the limit of 1000 bytes" in error_of(upload(client, chunks), 413)
        small, medium = (encode(Image.fromarray(photo(side, side))) for side in (8, 16))
        assert len(small) < len(medium) < 1000
        assert upload(client, small).status_code == 200
        message = error_of(upload(client, medium), 413)
        assert "16 x 16 = 0.000256 megapixels; the limit is 0.0001 megapixels" in message


def test_models_load_lazily_once_and_a_failing_loader_is_a_message(jpeg):
    calls = []

    def counted():
        calls.append(1)
        return tiny_model()

    def broken():
        raise FileNotFoundError("scenes.safetensors is missing")

    with TestClient(serve.create_app({"tiny": counted, "broken": broken})) as client:
        assert calls == []
        assert upload(client, jpeg).status_code == upload(client, jpeg).status_code == 200
        assert calls == [1]
        message = error_of(upload(client, jpeg, model="broken"), 500)
        assert message == (
            "the model 'broken' could not be loaded: "
            "FileNotFoundError: scenes.safetensors is missing"
        )


def test_only_the_latest_results_are_kept(jpeg):
    with TestClient(serve.create_app({"tiny": tiny_model}, result_memory=1)) as client:
        first, second = (upload(client, jpeg).json() for _ in range(2))
        assert "no longer kept" in error_of(client.get(f"/{first['download']}"), 404)
        assert client.get(f"/{second['download']}").status_code == 200


def test_concurrent_requests_are_queued_one_model_at_a_time(jpeg):
    tracker = new_tracker()
    models = {name: slow_loader(0.2, tracker) for name in ("a", "b")}
    with TestClient(serve.create_app(models)) as client:
        answers: list = []
        threads = [
            threading.Thread(target=lambda m=m: answers.append(upload(client, jpeg, model=m)))
            for m in ("a", "b", "a", "b")
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert [r.status_code for r in answers] == [200] * 4
    assert tracker["most"] == 1


def wait_until(condition, what: str, seconds: float = BROWSER_WAIT) -> None:
    """Polls ``condition`` every 20 ms; fails after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"no {what} in {seconds} s"
        time.sleep(0.02)


def test_a_full_queue_answers_busy_with_retry_after(jpeg):
    # max_waiting=1: one photo colourised and one waiting fill the queue; the third is refused
    tracker = new_tracker()
    app = serve.create_app({"slow": slow_loader(1.0, tracker)}, max_waiting=1)
    queue = app.state.colorizer.queue
    with TestClient(app) as client:
        answers: list = []
        threads = [
            threading.Thread(target=lambda: answers.append(upload(client, jpeg, "slow")))
            for _ in range(2)
        ]
        threads[0].start()
        assert tracker["entered"].wait(BROWSER_WAIT)
        threads[1].start()
        wait_until(lambda: queue.used == 2, "second photo in the queue")
        busy = upload(client, jpeg, model="slow")
        message = error_of(busy, 503)
        assert "busy: the queue is full (1 photo being colourised, 1 waiting)" in message
        assert busy.headers["retry-after"] == str(serve.BUSY_RETRY_SECONDS)
        for thread in threads:
            thread.join()
    assert [r.status_code for r in answers] == [200, 200]
    assert queue.used == 0 and tracker["most"] == 1


def test_download_names_are_safe():
    assert serve.download_name("holiday 2023.JPG") == "holiday_2023_colorized.png"
    assert serve.download_name('../../etc/a"b.png') == "a_b_colorized.png"
    assert serve.download_name("фото.jpg") == "photo_colorized.png"


def test_create_app_needs_a_model_and_loads_none():
    with pytest.raises(ValueError, match="no model"):
        serve.create_app({})


# ---------------------------------------------------------------- command line and notebook


def test_main_serves_checkpoints_on_localhost_and_loads_them_on_first_use(
    monkeypatch, tmp_path, jpeg
):
    started = {}
    monkeypatch.setattr(serve.uvicorn, "run", lambda app, **kw: started.update(app=app, **kw))
    run = tmp_path / "my_run"
    run.mkdir()  # no checkpoint inside: only the first upload finds out
    assert cli.main(["serve", "--checkpoint", str(run), "--device", "cpu"]) == 0
    assert (started["host"], started["port"]) == ("127.0.0.1", 7860)
    with TestClient(started["app"]) as client:
        page = client.get("/").text
        assert '<option value="my_run">' in page
        assert all(f'<option value="{name}">' in page for name in sources.shipped_loaders())
        message = error_of(upload(client, jpeg, model="my_run"), 500)
        assert message.startswith("the model 'my_run' could not be loaded: CheckpointError")


def test_main_refuses_a_missing_checkpoint(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["serve", "--checkpoint", str(tmp_path / "nothing")])
    assert exit_.value.code == 2
    assert "nothing: no such file or folder" in capsys.readouterr().err


def test_checkpoint_names(tmp_path):
    run = tmp_path / "profile" / "unet_faces"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "best.pt").touch()
    assert sources.checkpoint_name(run) == "unet_faces"
    assert sources.checkpoint_name(run / "checkpoints" / "best.pt") == "unet_faces/best.pt"


def test_show_in_notebook_displays_an_iframe_and_stops():
    server = serve.show_in_notebook({"tiny": tiny_model})
    try:
        assert server.url.startswith("http://127.0.0.1:")
        assert f'src="{server.url}"' in server._repr_html_() and "<iframe" in server._repr_html_()
        with urllib.request.urlopen(server.url, timeout=10) as response:
            assert '<option value="tiny">' in response.read().decode()
    finally:
        server.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(server.url, timeout=2)


# ---------------------------------------------------------------- a real browser


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads):
    prefs = {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    driver = headless_chromium(1280, 800, prefs)
    try:
        driver.execute_cdp_cmd(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
        )
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def site():
    """The page with a model slow enough (1 s) for the "colourising" state to be seen."""
    app = serve.create_app({"tiny": slow_loader(1.0, new_tracker()), "fast": tiny_model})
    server = serve.BackgroundServer(app)
    yield server
    server.stop()


def wait_for(driver, condition, what: str):
    return WebDriverWait(driver, BROWSER_WAIT).until(condition, f"no {what} in {BROWSER_WAIT} s")


PANELS_LOADED = """return ["gray", "colour", "original"].every((id) => {
  const image = document.getElementById(id);
  return image.complete && image.naturalWidth > 0;
});"""


def test_the_page_in_a_browser(browser, site, downloads, jpeg, tmp_path):
    def find(element_id: str):
        return browser.find_element(By.ID, element_id)

    upload_file = tmp_path / "street.jpg"
    upload_file.write_bytes(jpeg)
    browser.get(site.url)
    assert [o.text for o in find("model").find_elements(By.TAG_NAME, "option")] == ["tiny", "fast"]

    # upload: a visible "colourising" state, then the three panels and the download link
    find("file").send_keys(str(upload_file))
    wait_for(browser, lambda d: "Colourising street.jpg" in find("status").text, "busy state")
    wait_for(browser, lambda d: find("result").is_displayed(), "result")
    wait_for(browser, lambda d: d.execute_script(PANELS_LOADED), "panels")
    assert not find("status").is_displayed() and not find("error").is_displayed()
    assert find("drop").value_of_css_property("border-top-style") == "dashed"  # the style ran
    assert find("original-panel").is_displayed()
    assert f"{WIDTH} x {HEIGHT} px" in find("info").text

    # download at full resolution
    find("download").click()
    target = downloads / "street_colorized.png"
    wait_for(browser, lambda d: target.is_file(), "download")  # renamed from .crdownload when done
    assert_keeps_lightness(jpeg, target.read_bytes())

    # choosing another model colourises the same photo again
    Select(find("model")).select_by_value("fast")
    wait_for(browser, lambda d: find("colour-caption").text == "Colourised by fast", "new model")

    # a broken file: the server's message on the page, the old result hidden
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(jpeg[: len(jpeg) // 2])
    find("file").send_keys(str(broken))
    wait_for(browser, lambda d: find("error").is_displayed(), "error message")
    assert "broken.jpg: corrupt or truncated image" in find("error").text
    assert not find("result").is_displayed()
    assert_policy_enforced_and_never_broken(browser)


INJECT = """const script = document.createElement("script");
script.textContent = "window.injected = true";
document.body.append(script);
return window.injected === true;"""


def assert_policy_enforced_and_never_broken(driver) -> None:
    """The page's Content-Security-Policy let everything above work (no violation logged), and
    the browser enforces it: a script added to the page (as an injection would) does not run."""
    violations = [
        e["message"] for e in driver.get_log("browser") if "Content Security" in e["message"]
    ]
    assert violations == []
    assert driver.execute_script(INJECT) is False
    logged = [e["message"] for e in driver.get_log("browser")]
    assert any("Content Security Policy" in message for message in logged), logged


def test_the_page_refuses_a_file_over_the_cap_before_sending_it(browser, jpeg, tmp_path):
    server = serve.BackgroundServer(serve.create_app({"tiny": tiny_model}, max_bytes=1000))
    try:
        upload_file = tmp_path / "big.jpg"
        upload_file.write_bytes(jpeg)
        browser.get(server.url)
        browser.find_element(By.ID, "file").send_keys(str(upload_file))
        error = browser.find_element(By.ID, "error")
        wait_for(browser, lambda d: error.is_displayed(), "error message")
        assert f"big.jpg is {len(jpeg)} bytes; the limit is 1000 bytes" in error.text
    finally:
        server.stop()

"""The ``colorize serve`` web page: upload or drop a photo, choose a model, see the photo gray,
colourised and (if it was uploaded in colour) as uploaded, side by side, and download the
colourised photo at full resolution as a PNG.

We chose FastAPI + uvicorn over Gradio: a small dependency set that works offline, a stable DOM
for browser tests, and a page that shows inline in JupyterLab as an IFrame (``show_in_notebook``).

The page is one self-contained HTML document (inline CSS and JS, nothing from the internet). Its
script POSTs the photo's bytes as the request body to ``api/colorize?model=NAME&name=FILE``
(``curl --data-binary @photo.jpg 'http://127.0.0.1:7860/api/colorize?model=NAME'`` works too)
and shows the JSON answer: links to the display panels and to the full-resolution PNG. URLs are
relative, so the page also works behind a proxy prefix (jupyter-server-proxy).

Limits, since anyone who can reach the port can upload (the page has no authentication):

- the server binds ``DEFAULT_HOST`` (127.0.0.1, this machine only) unless told otherwise;
- it answers only requests addressed to it (``Guard``): a ``Host`` that is not 127.0.0.1,
  localhost, [::1], ``--host`` or the address the connection came in on is refused (421), which
  stops DNS rebinding, and a POST whose ``Origin`` is not that host and port, or that a browser
  marks ``Sec-Fetch-Site: cross-site``, is refused (403) before its body is read, which stops
  other pages posting to it; requests without an ``Origin`` (curl, scripts) are served;
- every answer carries ``SECURITY_HEADERS`` and a Content-Security-Policy that allows the page's
  own inline script and style (by hash), images and fetches from its own origin, and framing by
  itself or a JupyterLab on this machine (``FRAME_ANCESTORS``);
- an upload over ``MAX_UPLOAD_BYTES`` is refused while it is read (413), before any decoding;
- at most ``MAX_UPLOADING`` uploads are received at once, and each must arrive within
  ``UPLOAD_SECONDS`` or is answered 408 and its connection closed, so slow senders cannot hold
  the page for long; an upload in progress holds no place in the queue below;
- an image over ``MAX_PIXELS`` is refused from its header (413), before its pixels are decoded;
- only ``ACCEPTED_FORMATS`` are decoded: anything else is 415, a broken image 422;
- one photo is decoded and colourised at a time, on a single worker thread (never two models at
  once); at most ``MAX_WAITING`` received photos wait for it, more get 503 with ``Retry-After``;
- nothing is written to disk: results stay in memory under a random id, least recently used
  dropped beyond ``RESULT_MEMORY`` bytes (the newest always kept); a dropped result's links
  answer 404.

Every error is a JSON ``{"error": "..."}`` with a 4xx or 5xx status, which the page shows in its
``#error`` element. Models are loaded on first use, once, and stay in memory.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import html
import io
import math
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Collection, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from PIL import Image
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from colorize_core.apps.photo import (
    ALREADY_COLOUR,
    colorize_image,
    is_colour,
    shrink_for_display,
    training_size,
)
from colorize_core.apps.sources import Loader, shipped_loaders
from colorize_core.data import images
from colorize_core.data.color import gray
from colorize_core.data.errors import one_line
from colorize_core.training.device import pick_device

DEFAULT_HOST = "127.0.0.1"  # no authentication, so only this machine by default
DEFAULT_PORT = 7860  # the usual port of local ML demos
MAX_UPLOAD_BYTES = 20_000_000  # a 40-megapixel JPEG at high quality is about 15 MB
MAX_PIXELS = 40_000_000  # input + output alone are 240 MB of uint8 at that size
MAX_WAITING = 8  # photos received and waiting for the one being colourised
MAX_UPLOADING = 8  # uploads being received at once; (8 + 1 + 8) x 20 MB held at most
# The whole body must arrive within this time. A total rather than a minimum rate: a sender
# can keep up any rate slowly, so only a total bounds how long it holds an upload slot. 20 MB in
# 10 s is 16 Mbit/s, far below loopback or a local network.
UPLOAD_SECONDS = 10.0
BUSY_RETRY_SECONDS = 10  # Retry-After of a full queue: a guess at a few photos on a CPU
RESULT_MEMORY = 512_000_000  # bytes of results kept for the download links
DISPLAY_HEIGHT = 768  # rows of the panels on the page; the download keeps every pixel
DISPLAY_QUALITY = 90  # JPEG quality of the panels
PNG_COMPRESSION = 1  # zlib level of the download: level 6 is ~5x slower for ~15% less
# images.IMAGE_SUFFIXES; Pillow's JPEG opener also gives camera MPO files
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
STARTUP_SECONDS = 30  # how long ``BackgroundServer`` waits for uvicorn to listen
MESSAGE_WIDTH = 300  # characters of an error message from a loader or a decoder
REFUSAL_STATUS = {  # images.UnusableImage reason -> HTTP status
    images.TOO_LARGE: 413,
    images.NOT_AN_IMAGE: 415,
    images.CORRUPT: 422,
    images.UNSUPPORTED: 422,
}
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")  # served always; IPv6 without brackets
DEFAULT_PORTS = {"http": 80, "https": 443}  # of an Origin without a port
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")  # the ones another site's page may send us
# JupyterLab's inline view frames the page from its own origin (localhost:8888, say). CSP host
# sources cannot name an IPv6 address, so a JupyterLab opened as http://[::1]:8888 cannot frame it.
FRAME_ANCESTORS = "'self' http://localhost:* http://127.0.0.1:*"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",  # results are photos; they live in memory only, never on disk
}


def _amount(size: int) -> str:
    """Bytes as people read them: "20 MB", "120 bytes"."""
    return f"{size / 1e6:.3g} MB" if size >= 100_000 else f"{size} bytes"


# ---------------------------------------------------------------- decoding an upload


def decode(data: bytes, max_pixels: int = MAX_PIXELS) -> images.Decoded:
    """An upload's bytes -> ``images.Decoded`` through ``images.read_rgb_alpha``, the one decoder
    of files and uploads, which checks the pixel count from the header first.

    Raises HTTPException by the refusal's reason: 413 over ``max_pixels`` (TOO_LARGE), 415 not
    an image of ``ACCEPTED_FORMATS`` (NOT_AN_IMAGE), 422 corrupt or truncated (CORRUPT) or pixel
    values of unknown scale (UNSUPPORTED).
    """
    try:
        return images.read_rgb_alpha(
            io.BytesIO(data), formats=ACCEPTED_FORMATS, max_pixels=max_pixels
        )
    except images.UnusableImage as error:
        raise HTTPException(REFUSAL_STATUS[error.reason], _refusal(error)) from error


def _refusal(error: images.UnusableImage) -> str:
    """What the page says about an upload ``images.read_rgb_alpha`` refused. Pillow's error
    behind a refusal (``__cause__``) is named with its type, as users report it."""
    cause = error.__cause__
    if error.reason == images.TOO_LARGE and cause is None:  # over max_pixels, from the header
        return f"the image is {error.detail}: shrink it first"
    if error.reason == images.TOO_LARGE:  # Pillow's decompression-bomb check
        return f"the image is too large ({error.detail})"
    if error.reason == images.NOT_AN_IMAGE:
        return f"not an image, or not one of {', '.join(ACCEPTED_FORMATS)}"
    if error.reason == images.CORRUPT:
        return f"corrupt or truncated image ({one_line(cause or error, MESSAGE_WIDTH)})"
    return f"{error.reason} ({error.detail})"


# ---------------------------------------------------------------- results


@dataclass
class Result:
    """One colourised photo: JPEG panels for the page and the full-resolution PNG."""

    model: str
    filename: str  # of the download
    width: int
    height: int
    was_colour: bool
    seconds: float
    notes: list[str]
    png: bytes
    panels: dict[str, bytes]  # "gray", "colour" and, if uploaded in colour, "original"

    @property
    def nbytes(self) -> int:
        return len(self.png) + sum(map(len, self.panels.values()))


class Results:
    """Results by random id; the least recently used are dropped beyond ``budget`` bytes."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._items: OrderedDict[str, Result] = OrderedDict()

    def add(self, result: Result) -> str:
        key = secrets.token_urlsafe(16)
        self._items[key] = result
        while len(self._items) > 1 and sum(r.nbytes for r in self._items.values()) > self.budget:
            self._items.popitem(last=False)
        return key

    def get(self, key: str) -> Result:
        if key not in self._items:
            raise HTTPException(
                404, "this result is no longer kept (only the latest are): colourise it again"
            )
        self._items.move_to_end(key)
        return self._items[key]


def _jpeg(rgb: np.ndarray, alpha: np.ndarray | None) -> bytes:
    """A display panel: (H, W, 3) uint8, transparent areas on white, as JPEG bytes."""
    image = Image.fromarray(rgb)
    if alpha is not None:
        mask = Image.fromarray(alpha).resize(image.size, Image.Resampling.BILINEAR)
        image = Image.composite(image, Image.new("RGB", image.size, "white"), mask)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=DISPLAY_QUALITY)
    return buffer.getvalue()


def _png(rgb: np.ndarray, alpha: np.ndarray | None) -> bytes:
    """The download: (H, W, 3) uint8 with its alpha re-attached, as PNG bytes."""
    image = Image.fromarray(rgb)
    if alpha is not None:
        image.putalpha(Image.fromarray(alpha))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_COMPRESSION)
    return buffer.getvalue()


def download_name(upload_name: str) -> str:
    """``<stem>_colorized.png`` for an upload's file name, kept to safe ASCII characters."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(upload_name).stem).strip("._")[:100]
    return f"{stem or 'photo'}_colorized.png"


def colorize_upload(
    model: torch.nn.Module, size: int, device: torch.device, decoded: images.Decoded
) -> tuple[bytes, dict[str, bytes], bool]:
    """(full-resolution PNG, display panels, whether the upload was in colour) for one photo."""
    rgb, alpha = colorize_image(model, decoded, size, device)
    was_colour = is_colour(decoded.rgb, decoded.alpha)
    original = shrink_for_display(decoded.rgb, DISPLAY_HEIGHT)
    panels = {
        "gray": _jpeg(gray(original), alpha),
        "colour": _jpeg(shrink_for_display(rgb, DISPLAY_HEIGHT), alpha),
    }
    if was_colour:
        panels["original"] = _jpeg(original, alpha)
    return _png(rgb, alpha), panels, was_colour


def _notes(decoded: images.Decoded, was_colour: bool) -> list[str]:
    """What the user should know about how the photo was treated."""
    notes = [ALREADY_COLOUR] if was_colour else []
    if decoded.frames > 1:
        notes.append(f"{decoded.frames} frames (animation or pages): only the first is colourised")
    if decoded.mode in images.HIGH_BIT_DEPTH_MODES:
        notes.append(f"{decoded.mode} input: the download is 8-bit")
    if decoded.alpha is not None:
        notes.append("transparency kept in the download (the panels show it on white)")
    return notes


# ---------------------------------------------------------------- the colouriser behind the page


class Models:
    """Name -> loader; each loader is called once, on first use, and its model kept."""

    def __init__(self, loaders: Mapping[str, Loader], device: torch.device) -> None:
        self.loaders, self.device = dict(loaders), device
        self._loaded: dict[str, tuple[torch.nn.Module, int]] = {}

    def check(self, name: str) -> None:
        if name not in self.loaders:
            choices = ", ".join(self.loaders)
            raise HTTPException(400, f"unknown model {name!r}; choose one of: {choices}")

    def get(self, name: str) -> tuple[torch.nn.Module, int]:
        """(model on the device, input size); 500 with the loader's error if it fails."""
        if name not in self._loaded:
            try:
                model, config = self.loaders[name]()
                size = training_size(config)
            except Exception as error:  # a loader may fail in any way; the user needs the reason
                message = (
                    f"the model {name!r} could not be loaded: {one_line(error, MESSAGE_WIDTH)}"
                )
                raise HTTPException(500, message) from error
            self._loaded[name] = model.to(self.device).eval(), size
        return self._loaded[name]


class Slots:
    """At most ``size`` holders at once. Changed on the event loop only, so it needs no lock."""

    def __init__(self, size: int, busy: str, retry_seconds: float) -> None:
        self.size, self.busy, self.used = size, busy, 0
        self.retry_after = str(max(1, math.ceil(retry_seconds)))  # whole seconds, as HTTP has

    def check(self) -> None:
        """503 with ``Retry-After`` if every slot is taken."""
        if self.used >= self.size:
            message = f"busy: {self.busy}; try again in {self.retry_after} s"
            raise HTTPException(503, message, {"Retry-After": self.retry_after})

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Take a slot (503 if none is free) for the ``with`` block."""
        self.check()
        self.used += 1
        try:
            yield
        finally:
            self.used -= 1


class Colorizer:
    """Queues received photos onto one worker thread (one running, ``max_waiting`` waiting) and
    keeps the results."""

    def __init__(
        self, models: Models, max_pixels: int, result_memory: int, max_waiting: int
    ) -> None:
        self.models, self.max_pixels = models, max_pixels
        self.results = Results(result_memory)
        busy = f"the queue is full (1 photo being colourised, {max_waiting} waiting)"
        self.queue = Slots(1 + max_waiting, busy, BUSY_RETRY_SECONDS)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="colorize-serve")

    async def run(self, name: str, data: bytes, upload_name: str) -> tuple[str, Result]:
        """(id, result) of one upload, colourised once the photos before it are done; 503 if
        the queue is full."""
        with self.queue.hold():
            work = functools.partial(self._work, name, data, upload_name)
            result = await asyncio.get_running_loop().run_in_executor(self._worker, work)
        return self.results.add(result), result

    def _work(self, name: str, data: bytes, upload_name: str) -> Result:
        started = time.perf_counter()
        decoded = decode(data, self.max_pixels)  # a bad file fails before any model loads
        model, size = self.models.get(name)
        try:
            png, panels, was_colour = colorize_upload(model, size, self.models.device, decoded)
        except (RuntimeError, MemoryError) as error:  # out of memory, mostly
            message = f"colourising failed: {one_line(error, MESSAGE_WIDTH)}"
            raise HTTPException(500, message) from error
        height, width = decoded.rgb.shape[:2]
        seconds = time.perf_counter() - started
        notes = _notes(decoded, was_colour)
        filename = download_name(upload_name)
        return Result(name, filename, width, height, was_colour, seconds, notes, png, panels)


async def read_upload(request: Request, max_bytes: int, seconds: float = UPLOAD_SECONDS) -> bytes:
    """The request body, refused with 413 as soon as it passes ``max_bytes``, and with 408 (the
    connection then closed) if it has not all arrived ``seconds`` after reading began."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise HTTPException(
            413, f"the file is {_amount(int(declared))}; the limit is {_amount(max_bytes)}"
        )
    try:
        data = await asyncio.wait_for(_read_body(request, max_bytes), seconds)
    except asyncio.TimeoutError as error:
        message = f"the upload did not arrive within {seconds:g} s; send it again"
        raise HTTPException(408, message, {"Connection": "close"}) from error
    if not data:
        raise HTTPException(400, "no photo: send the image file's bytes as the request body")
    return data


async def _read_body(request: Request, max_bytes: int) -> bytes:
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > max_bytes:
            raise HTTPException(413, f"the file is over the limit of {_amount(max_bytes)}")
        chunks.append(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------- who may ask

AUTHORITY = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[^\[\]:/@?#\s]+)(?::(?P<port>[0-9]{1,5}))?")


def url_host(host: str) -> str:
    """A host as a URL writes it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def served_names(hosts: Iterable[str]) -> frozenset[str]:
    """``LOOPBACK_NAMES`` and ``hosts``, in lower case, IPv6 addresses without brackets."""
    return frozenset(LOOPBACK_NAMES) | {h.strip("[]").lower() for h in hosts if h}


def split_authority(value: str) -> tuple[str, int | None] | None:
    """``"LocalHost:7860"`` -> ("localhost", 7860), ``"[::1]"`` -> ("::1", None); None if
    ``value`` is not a bare host with an optional port (user info, a path, spaces)."""
    match = AUTHORITY.fullmatch(value)
    if match is None:
        return None
    return match["host"].strip("[]").lower(), int(match["port"]) if match["port"] else None


def origin_authority(origin: str) -> tuple[str, int] | None:
    """``"http://LocalHost:7860"`` -> ("localhost", 7860), with the scheme's port if it names
    none; None for "null" (sandboxed frames, files) and for schemes other than http(s)."""
    scheme, _, authority = origin.partition("://")
    parts = split_authority(authority)
    if scheme.lower() not in DEFAULT_PORTS or parts is None:
        return None
    host, port = parts
    return host, DEFAULT_PORTS[scheme.lower()] if port is None else port


def refusal(scope: Scope, names: Collection[str]) -> tuple[int, str] | None:
    """(status, message) for a request this server must not answer, else None.

    The ``Host`` must be one of ``names`` or the address the connection came in on, at any port
    (SSH tunnels and jupyter-server-proxy change the port; a DNS-rebinding page can only send
    its own domain name). An unsafe method's ``Origin``, if any, must be that very host and
    port, so pages elsewhere, on this machine's other ports too, cannot post here."""
    headers = Headers(scope=scope)
    address = (scope.get("server") or (None,))[0]
    names = {*names, address.lower()} if address else names
    host = split_authority(headers.get("host", ""))
    if host is None or host[0] not in names:
        served = ", ".join(sorted(url_host(name) for name in names))
        return 421, f"this server answers only requests addressed to {served}"
    if scope["method"] in SAFE_METHODS:
        return None
    origin = headers.get("origin")
    host_port = host[1] or DEFAULT_PORTS.get(scope.get("scheme", "http"), 80)
    if origin is not None and origin_authority(origin) != (host[0], host_port):
        return 403, f"refused: a page from {origin[:100]} may not send photos here"
    if headers.get("sec-fetch-site") in ("cross-site", "same-site"):
        return 403, "refused: another site's page may not send photos here"
    return None


class Guard:
    """ASGI middleware: refuses what ``refusal`` refuses, before the app sees it, and sets
    ``headers`` on every answer."""

    def __init__(self, app: ASGIApp, names: Collection[str], headers: Mapping[str, str]) -> None:
        self.app, self.names, self.headers = app, names, dict(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers[name] = value
            await send(message)

        refused = refusal(scope, self.names)
        if refused is None:
            await self.app(scope, receive, send_with_headers)
        else:
            status, message = refused
            await JSONResponse({"error": message}, status)(scope, receive, send_with_headers)


def _answer(key: str, result: Result) -> dict:
    """The JSON the page shows; URLs relative to the page."""
    base = f"api/results/{key}"
    return {
        "id": key,
        "model": result.model,
        "width": result.width,
        "height": result.height,
        "was_colour": result.was_colour,
        "seconds": round(result.seconds, 2),
        "notes": result.notes,
        "panels": {name: f"{base}/{name}.jpg" for name in result.panels},
        "download": f"{base}/download",
        "filename": result.filename,
    }


def create_app(
    models: Mapping[str, Loader],
    device: str = "cpu",
    *,
    hosts: Iterable[str] = (),
    max_bytes: int = MAX_UPLOAD_BYTES,
    max_pixels: int = MAX_PIXELS,
    max_waiting: int = MAX_WAITING,
    max_uploading: int = MAX_UPLOADING,
    upload_seconds: float = UPLOAD_SECONDS,
    result_memory: int = RESULT_MEMORY,
) -> FastAPI:
    """The web app: the page at ``/``, uploads at ``POST api/colorize``, results under
    ``api/results/<id>/``. ``models``: name -> loader returning (model, config), called lazily
    once; ``device``: as ``device.pick_device`` ("auto", "cpu", "cuda"); ``hosts``: host names
    it answers to besides ``LOOPBACK_NAMES`` (``--host``). Loads nothing itself.

    ``app.state.colorizer`` and ``app.state.uploads`` hold the queue and the upload slots."""
    if not models:
        raise ValueError("no model to serve")
    loaded = Models(models, pick_device(device))
    service = Colorizer(loaded, max_pixels, result_memory, max_waiting)
    uploads = Slots(max_uploading, f"{max_uploading} uploads are arriving", upload_seconds)
    page = render_page(list(models), max_bytes)
    headers = {"Content-Security-Policy": content_security_policy(page), **SECURITY_HEADERS}
    app = FastAPI(title="colorize", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(Guard, names=served_names(hosts), headers=headers)
    app.state.colorizer, app.state.uploads = service, uploads

    @app.exception_handler(HTTPException)
    async def _error(request: Request, error: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(error.detail)}, error.status_code, error.headers)

    @app.exception_handler(Exception)
    async def _crash(request: Request, error: Exception) -> JSONResponse:
        # answered outside Guard, so it adds the headers itself
        message = f"internal error: {one_line(error, MESSAGE_WIDTH)}"
        return JSONResponse({"error": message}, 500, headers)

    @app.get("/", response_class=HTMLResponse)
    async def _page() -> str:
        return page

    @app.post("/api/colorize")
    async def _colorize(request: Request, model: str = "", name: str = "photo") -> dict:
        service.models.check(model)
        service.queue.check()  # no room for it: say so before it is sent
        with uploads.hold():  # an upload in progress holds no place in the queue
            data = await read_upload(request, max_bytes, upload_seconds)
        return _answer(*await service.run(model, data, name))

    @app.get("/api/results/{key}/download")
    async def _download(key: str) -> Response:
        result = service.results.get(key)
        headers = {"Content-Disposition": f'attachment; filename="{result.filename}"'}
        return Response(result.png, media_type="image/png", headers=headers)

    @app.get("/api/results/{key}/{panel}.jpg")
    async def _panel(key: str, panel: str) -> Response:
        panels = service.results.get(key).panels
        if panel not in panels:
            raise HTTPException(404, f"no panel {panel!r}; this result has {', '.join(panels)}")
        return Response(panels[panel], media_type="image/jpeg")

    return app


# ---------------------------------------------------------------- the page


def render_page(names: list[str], max_bytes: int) -> str:
    """The HTML page with its model choices and upload limit filled in."""
    options = "".join(f'<option value="{html.escape(n)}">{html.escape(n)}</option>' for n in names)
    return PAGE.replace("__MODELS__", options).replace("__MAX_BYTES__", str(int(max_bytes)))


def content_security_policy(page: str) -> str:
    """The page's policy: its own inline script and style only (by their SHA-256, so nothing
    injected runs), images and fetches from its own origin, framed by itself or a local
    JupyterLab (``FRAME_ANCESTORS``)."""

    def inline(tag: str) -> str:
        bodies = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.DOTALL)
        digests = (base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() for b in bodies)
        return " ".join(f"'sha256-{digest}'" for digest in digests) or "'none'"

    return "; ".join(
        [
            "default-src 'none'",
            f"script-src {inline('script')}",
            f"style-src {inline('style')}",
            "img-src 'self'",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            f"frame-ancestors {FRAME_ANCESTORS}",
        ]
    )


PAGE = (resources.files("colorize_core.apps") / "serve_page.html").read_text()  # inline CSS, JS


# ---------------------------------------------------------------- running it


class BackgroundServer:
    """A uvicorn server on a daemon thread, listening once constructed; ``stop()`` ends it.

    In Jupyter it displays as an IFrame of the page (``_repr_html_``); that works when the
    browser runs on the kernel's machine, since the server listens on ``host`` there. A ``host``
    that is a name, not an address, must be among the app's ``hosts`` (``create_app``).
    """

    def __init__(self, app: FastAPI, host: str = DEFAULT_HOST, port: int = 0, height: int = 700):
        self.height = height
        config = uvicorn.Config(app, host=host, port=port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="colorize-serve", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + STARTUP_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server did not start on {host}:{port} (port in use?)")
            time.sleep(0.02)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://{url_host(host)}:{self.port}/"

    def stop(self) -> None:
        """Stop the server and wait for its thread (requests in flight are finished first)."""
        self._server.should_exit = True
        self._thread.join(timeout=STARTUP_SECONDS)

    def _repr_html_(self) -> str:
        from IPython.display import IFrame

        return IFrame(self.url, width="100%", height=self.height)._repr_html_()

    def __repr__(self) -> str:
        return f"colorize serve at {self.url} (.stop() ends it)"


def show_in_notebook(
    models: Mapping[str, Loader] | None = None,
    port: int | None = None,
    height: int = 700,
    device: str = "cpu",
) -> BackgroundServer:
    """Serve the page from this kernel on 127.0.0.1 (``port`` None: any free port) and return
    the server, which displays as an IFrame of it; ``.stop()`` ends it. ``models``: name ->
    loader as in ``create_app``; None, the shipped models."""
    app = create_app(shipped_loaders() if models is None else models, device)
    return BackgroundServer(app, DEFAULT_HOST, port or 0, height)

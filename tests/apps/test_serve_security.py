"""``colorize serve`` against hostile requests, on a real server on 127.0.0.1: a wrong or
DNS-rebinding ``Host``, cross-origin POSTs, the headers of every answer, slow uploads that try to
hold every slot, and, in headless Chromium, other sites framing, loading and posting to the page.
The model is the tiny untrained conv_ae of test_serve.py."""

from __future__ import annotations

import base64
import hashlib
import http.client
import http.server
import json
import re
import socket
import threading
import time
from dataclasses import dataclass

import pytest
import torch
from browser import headless_chromium  # pytest puts tests/ on sys.path
from PIL import Image
from selenium.webdriver.common.by import By
from test_serve import (  # beside this file: pytest puts tests/apps/ on sys.path
    BROWSER_WAIT,
    PANELS_LOADED,
    encode,
    photo,
    tiny_model,
    wait_for,
    wait_until,
)

from colorize_core.apps import cli, serve

EVIL = "evil.example"  # the browser resolves it to 127.0.0.1, as a DNS-rebinding attack would
JUPYTER = "http://localhost:8888"  # another local origin: JupyterLab's
SLOW_SECONDS = 1.0  # the upload time limit in the slow-upload test
ANSWER_SECONDS = 10  # socket timeout: no single answer may take longer


# ---------------------------------------------------------------- a server and a client


class Recorder:
    """ASGI wrapper: ``seen`` lists (method, path, status) of every answer."""

    def __init__(self, app) -> None:
        self.app, self.seen = app, []

    async def __call__(self, scope, receive, send) -> None:
        async def recording(message) -> None:
            if message["type"] == "http.response.start":
                self.seen.append((scope["method"], scope["path"], message["status"]))
            await send(message)

        await self.app(scope, receive, recording if scope["type"] == "http" else send)


class Counted(torch.nn.Module):
    """Wraps a model; ``calls`` counts its forwards, so a test can see whether work was done."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner, self.calls = inner, 0

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.inner(lightness)


@dataclass
class Site:
    server: serve.BackgroundServer
    recorder: Recorder
    model: Counted

    @property
    def port(self) -> int:
        return self.server.port


@pytest.fixture(scope="module")
def site():
    """The page with a counted model and a loader that returns no model (an internal error)."""
    model, config = tiny_model()
    counted = Counted(model)
    app = serve.create_app({"tiny": lambda: (counted, config), "broken": lambda: (None, config)})
    recorder = Recorder(app)
    server = serve.BackgroundServer(recorder)
    yield Site(server, recorder, counted)
    server.stop()


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    return encode(Image.fromarray(photo()))


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def error(self) -> str:
        return json.loads(self.body)["error"]


def ask(port: int, method: str, path: str, body: bytes = b"", **headers: str) -> Answer:
    """One request to 127.0.0.1:``port``; ``Host`` is 127.0.0.1:port unless given. Header names
    are given with underscores (``Sec_Fetch_Site``)."""
    fields = {"Host": f"127.0.0.1:{port}"} | {k.replace("_", "-"): v for k, v in headers.items()}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=ANSWER_SECONDS)
    try:
        connection.request(method, path, body=body or None, headers=fields)
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def post_photo(port: int, data: bytes, model: str = "tiny", **headers: str) -> Answer:
    return ask(port, "POST", f"/api/colorize?model={model}&name=a.jpg", data, **headers)


# ---------------------------------------------------------------- who is answered


def test_host_and_origin_parsing():
    assert serve.split_authority("LocalHost:7860") == ("localhost", 7860)
    assert serve.split_authority("[::1]") == ("::1", None)
    for bad in ("", "user@127.0.0.1", "127.0.0.1:80/x", "127.0.0.1:", "a b", "[::1"):
        assert serve.split_authority(bad) is None, bad
    names = serve.served_names(["My-Box.lan", "[::2]"])
    assert names == {"127.0.0.1", "localhost", "::1", "my-box.lan", "::2"}
    assert serve.origin_authority("http://My-Box.lan:7860") == ("my-box.lan", 7860)
    assert serve.origin_authority("http://localhost") == ("localhost", 80)  # the scheme's port
    assert serve.origin_authority("https://[::1]") == ("::1", 443)
    for bad in ("null", "file://", "chrome-extension://abc", "localhost:7860", "http://a@b"):
        assert serve.origin_authority(bad) is None, bad


def test_only_its_own_host_names_are_answered(site):
    port = site.port
    served = (f"127.0.0.1:{port}", "127.0.0.1", f"localhost:{port}", "LOCALHOST", f"[::1]:{port}")
    forwarded = ("localhost:8888", "127.0.0.1:9000")  # jupyter-server-proxy, ssh -L 9000:...
    for host in served + forwarded:
        answer = ask(port, "GET", "/", Host=host)
        assert answer.status == 200 and b'<option value="tiny">' in answer.body, host
    wrong = (
        f"{EVIL}:{port}",
        EVIL,
        f"localhost.{EVIL}:{port}",
        f"127.0.0.1.nip.io:{port}",
        f"user@127.0.0.1:{port}",
        f"127.0.0.1:{port}/",
        "",
    )
    for host in wrong:
        answer = ask(port, "GET", "/", Host=host)
        assert answer.status == 421, host
        assert "answers only requests addressed to 127.0.0.1, [::1], localhost" in answer.error()
        assert b"<option" not in answer.body


def test_a_dns_rebinding_page_gets_nothing_and_starts_nothing(site, jpeg):
    # After rebinding, the attacker's page is "same-origin" with its own name: Host, Origin and
    # Sec-Fetch-Site all say evil.example, and only the Host check stands in the way.
    port, before = site.port, site.model.calls
    same_origin = {"Origin": f"http://{EVIL}:{port}", "Sec_Fetch_Site": "same-origin"}
    assert ask(port, "GET", "/", Host=f"{EVIL}:{port}").status == 421
    posted = post_photo(port, jpeg, Host=f"{EVIL}:{port}", **same_origin)
    assert posted.status == 421 and "answers only" in posted.error()
    assert site.model.calls == before


def test_cross_origin_posts_are_refused_before_any_work(site, jpeg):
    port, before = site.port, site.model.calls
    hostile = (
        {"Origin": f"http://{EVIL}"},
        {"Origin": JUPYTER, "Sec_Fetch_Site": "same-site"},  # another port of this machine
        {"Origin": f"http://127.0.0.1:{port % 65535 + 1}"},
        {"Origin": f"http://localhost:{port}"},  # another name than the Host: not the page
        {"Origin": "null"},  # sandboxed frames, file:// pages
        {"Sec_Fetch_Site": "cross-site"},  # a browser that sent no Origin
    )
    for headers in hostile:
        answer = post_photo(port, jpeg, Content_Type="text/plain", **headers)
        assert answer.status == 403, headers
        assert answer.error().startswith("refused: "), headers
    assert site.model.calls == before
    assert ("POST", "/api/colorize", 200) not in site.recorder.seen


def test_a_cross_origin_post_is_refused_before_its_body_is_sent(site):
    # only the headers are sent: an answer at all shows the body was never waited for
    with socket.create_connection(("127.0.0.1", site.port), timeout=ANSWER_SECONDS) as sock:
        sock.sendall(
            b"POST /api/colorize?model=tiny HTTP/1.1\r\n"
            + f"Host: 127.0.0.1:{site.port}\r\nOrigin: http://{EVIL}\r\n".encode()
            + b"Content-Type: text/plain\r\nContent-Length: 100000\r\n\r\n"
        )
        status, _, _ = read_response(sock)
    assert status == 403


def test_same_origin_and_origin_less_posts_work(site, jpeg):
    port = site.port
    allowed = (
        {"Origin": f"http://127.0.0.1:{port}", "Sec_Fetch_Site": "same-origin"},  # the page
        {"Origin": f"http://localhost:{port}", "Host": f"localhost:{port}"},
        {"Origin": JUPYTER, "Host": "localhost:8888"},  # the page through jupyter-server-proxy
        {"Content_Type": "text/plain"},  # curl --data-binary
    )
    for headers in allowed:
        before = site.model.calls
        answer = post_photo(port, jpeg, **headers)
        assert answer.status == 200, answer.body
        assert json.loads(answer.body)["width"] == photo().shape[1]
        assert site.model.calls > before, headers  # the model ran


# ---------------------------------------------------------------- headers of every answer


def directives(policy: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in policy.split(";"))


def script_hash(page: bytes) -> str:
    script = re.search(rb"<script>(.*?)</script>", page, flags=re.DOTALL)[1]
    return f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"


def test_every_answer_carries_the_security_headers(site, jpeg):
    port = site.port
    page = ask(port, "GET", "/")
    result = json.loads(post_photo(port, jpeg).body)
    answers = {
        "page": page,
        "result": post_photo(port, jpeg),
        "panel": ask(port, "GET", f"/{result['panels']['colour']}"),
        "download": ask(port, "GET", f"/{result['download']}"),
        "not found": ask(port, "GET", "/no/such/page"),
        "bad request": post_photo(port, jpeg, model="nope"),
        "wrong host": ask(port, "GET", "/", Host=EVIL),
        "cross-origin": post_photo(port, jpeg, Origin=f"http://{EVIL}"),
        "internal error": post_photo(port, jpeg, model="broken"),  # answered outside Guard
    }
    expected = {"page": 200, "result": 200, "panel": 200, "download": 200, "not found": 404}
    expected |= {"bad request": 400, "wrong host": 421, "cross-origin": 403}
    expected |= {"internal error": 500}
    assert {name: a.status for name, a in answers.items()} == expected
    assert answers["internal error"].error().startswith("internal error: AttributeError")
    for name, answer in answers.items():
        headers = answer.headers
        assert headers["X-Content-Type-Options"] == "nosniff", name
        assert headers["Referrer-Policy"] == "no-referrer", name
        assert headers["Cache-Control"] == "no-store", name
        assert "X-Frame-Options" not in headers, name
        assert headers["Content-Security-Policy"] == page.headers["Content-Security-Policy"], name
    policy = directives(page.headers["Content-Security-Policy"])
    assert policy["default-src"] == "'none'" and policy["img-src"] == "'self'"
    assert policy["script-src"] == script_hash(page.body)  # that script only: no 'unsafe-inline'
    assert policy["style-src"].startswith("'sha256-") and "unsafe" not in policy["style-src"]
    assert policy["connect-src"] == "'self'" and policy["form-action"] == "'none'"
    assert policy["frame-ancestors"] == "'self' http://localhost:* http://127.0.0.1:*"


# ---------------------------------------------------------------- slow uploads


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """(status, headers in lower case, body) of one HTTP/1.1 answer with a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before the headers: {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    headers = {name.lower(): value for name, value in headers.items()}
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside the body"
        body += chunk
    return int(lines[0].split()[1]), headers, body


def slow_upload(port: int) -> socket.socket:
    """A socket that declares a 1 MB upload and sends 10 bytes of it."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=ANSWER_SECONDS)
    sock.sendall(
        f"POST /api/colorize?model=tiny HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode()
        + b"Content-Length: 1000000\r\n\r\n"
        + bytes(10)
    )
    return sock


def test_slow_uploads_time_out_and_free_their_slots(jpeg):
    app = serve.create_app({"tiny": tiny_model}, upload_seconds=SLOW_SECONDS)
    uploads, queue = app.state.uploads, app.state.colorizer.queue
    server = serve.BackgroundServer(app)
    sockets: list[socket.socket] = []
    try:
        started = time.monotonic()
        sockets = [slow_upload(server.port) for _ in range(serve.MAX_UPLOADING + 2)]
        wait_until(lambda: uploads.used == serve.MAX_UPLOADING, "slots taken", ANSWER_SECONDS)
        assert queue.used == 0  # an upload in progress holds no place in the queue

        # while they hold every upload slot: 503 at once, with when to try again
        busy = post_photo(server.port, jpeg)
        assert busy.status == 503 and busy.headers["Retry-After"] == "1"
        assert busy.error() == "busy: 8 uploads are arriving; try again in 1 s"

        # each slow socket: 408 after SLOW_SECONDS and its connection closed, or 503 at once
        statuses = []
        for sock in sockets:
            status, headers, body = read_response(sock)
            statuses.append(status)
            if status == 408:
                assert "did not arrive within 1 s" in json.loads(body)["error"]
                assert headers["connection"] == "close" and sock.recv(1) == b""
            else:
                assert headers["retry-after"] == "1"
        assert sorted(statuses) == [408] * serve.MAX_UPLOADING + [503, 503]
        assert time.monotonic() - started >= SLOW_SECONDS

        # the slots are free again: a normal upload goes through, soon after the time limit
        wait_until(lambda: uploads.used == 0, "slots freed", ANSWER_SECONDS)
        assert post_photo(server.port, jpeg).status == 200
        assert time.monotonic() - started < SLOW_SECONDS + ANSWER_SECONDS
    finally:
        for sock in sockets:
            sock.close()
        server.stop()


def test_main_also_answers_to_its_host(monkeypatch, capsys):
    started = {}
    monkeypatch.setattr(serve.uvicorn, "run", lambda app, **kw: started.update(app=app, **kw))
    assert cli.main(["serve", "--host", "gpu-box.lan", "--device", "cpu"]) == 0
    assert started["host"] == "gpu-box.lan"
    assert "anyone who can reach gpu-box.lan can use the page" in capsys.readouterr().out
    server = serve.BackgroundServer(started["app"])  # on 127.0.0.1, but asked as gpu-box.lan
    try:
        assert ask(server.port, "GET", "/", Host=f"gpu-box.lan:{server.port}").status == 200
        assert ask(server.port, "GET", "/", Host=f"other-box.lan:{server.port}").status == 421
    finally:
        server.stop()


# ---------------------------------------------------------------- in a browser


class Pages(http.server.BaseHTTPRequestHandler):
    """Serves ``PAGES[path]``: the other sites of the browser tests."""

    pages: dict[str, str] = {}

    def do_GET(self) -> None:
        body = self.pages.get(self.path, "").encode()
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def other_site(site):
    """Another site on 127.0.0.1: a frame of the page, as JupyterLab shows it, at /frame."""
    frame = f'<iframe id="page" src="{site.server.url}" width="1000" height="700" '
    frame += "onload=\"document.title='loaded'\"></iframe>"
    Pages.pages = {"/frame": f"<!doctype html><title>-</title>{frame}", "/blank": "<p>other"}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    driver = headless_chromium(
        1280, 800, arguments=(f"--host-resolver-rules=MAP {EVIL} 127.0.0.1",)
    )
    try:
        yield driver
    finally:
        driver.quit()


def framed_page_loaded(driver, parent: str) -> bool:
    """Opens ``parent``; whether the page inside its frame came up (then the driver is in it)."""
    driver.get(parent)
    wait_for(driver, lambda d: d.title == "loaded", "frame load")
    driver.switch_to.frame(driver.find_element(By.ID, "page"))
    return bool(driver.find_elements(By.ID, "model"))


def test_a_local_jupyterlab_can_frame_the_page_and_use_it(browser, other_site, jpeg, tmp_path):
    upload_file = tmp_path / "framed.jpg"
    upload_file.write_bytes(jpeg)
    try:
        assert framed_page_loaded(browser, f"http://localhost:{other_site}/frame")
        browser.find_element(By.ID, "file").send_keys(str(upload_file))
        result = browser.find_element(By.ID, "result")
        wait_for(browser, lambda d: result.is_displayed(), "result in the frame")
        wait_for(browser, lambda d: d.execute_script(PANELS_LOADED), "panels in the frame")
    finally:
        browser.switch_to.default_content()


def test_another_site_cannot_frame_the_page(browser, other_site):
    browser.get_log("browser")  # forget earlier messages
    try:
        assert not framed_page_loaded(browser, f"http://{EVIL}:{other_site}/frame")
    finally:
        browser.switch_to.default_content()
    messages = [entry["message"] for entry in browser.get_log("browser")]
    assert any("frame-ancestors" in message for message in messages), messages


def test_a_rebound_name_gets_no_page_in_the_browser(browser, site):
    browser.get(f"http://{EVIL}:{site.port}/")
    assert not browser.find_elements(By.ID, "model")
    assert "answers only requests addressed to" in browser.find_element(By.TAG_NAME, "body").text
    assert ("GET", "/", 421) in site.recorder.seen


POST_FROM_ELSEWHERE = """const [url, photo, done] = arguments;
const body = Uint8Array.from(atob(photo), (c) => c.charCodeAt(0));
fetch(url, {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body})
  .then(() => done("sent"), (error) => done(`failed: ${error}`));"""


def test_another_sites_page_cannot_post_a_photo(browser, site, other_site, jpeg):
    # a "simple" request, which browsers send cross-origin without asking first
    browser.get(f"http://{EVIL}:{other_site}/blank")
    browser.set_script_timeout(BROWSER_WAIT)
    before, seen = site.model.calls, len(site.recorder.seen)
    url = f"{site.server.url}api/colorize?model=tiny"
    photo64 = base64.b64encode(jpeg).decode()
    assert browser.execute_async_script(POST_FROM_ELSEWHERE, url, photo64) == "sent"
    wait_until(lambda: len(site.recorder.seen) > seen, "the request at the server", BROWSER_WAIT)
    assert site.recorder.seen[seen:] == [("POST", "/api/colorize", 403)]
    assert site.model.calls == before

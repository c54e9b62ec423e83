"""https through the fetcher's own asyncio network stream, against a local TLS server."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from monitor.errors import FetchError
from monitor.fetch import Fetcher

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def _certificate(folder: Path, name: str) -> tuple[Path, Path]:
    key, cert = folder / f"{name}.key", folder / f"{name}.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}"),
            *("-addext", f"subjectAltName={name}"),
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the second request reuses the connection

    def do_GET(self) -> None:
        body = "<rss><channel><title>质量</title></channel></rss>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path, list[int]]]:
    """A TLS server for IP 127.0.0.1; its certificate; the connections it accepted."""
    key, cert = _certificate(tmp_path, "IP:127.0.0.1")
    accepted: list[int] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    class Server(ThreadingHTTPServer):
        def get_request(self):  # type: ignore[no-untyped-def]
            sock, address = super().get_request()
            accepted.append(1)
            return context.wrap_socket(sock, server_side=True), address

    server = Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/feed.xml", cert, accepted
    finally:
        server.shutdown()
        server.server_close()


async def test_https_is_verified_and_kept_alive(
    tls_server: tuple[str, Path, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, cert, accepted = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the fetcher trusts the environment's CAs
    async with Fetcher(backoff=0.05) as f:
        first = await f.get(url, source_id="s")
        second = await f.get(url, source_id="s")
    assert first.status == second.status == 200
    assert "质量" in second.text
    assert len(accepted) == 1  # one TLS connection for both requests


async def test_https_with_an_untrusted_certificate_fails(
    tls_server: tuple[str, Path, list[int]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url, _cert, _accepted = tls_server
    _key, other = _certificate(tmp_path, "DNS:elsewhere.test")
    monkeypatch.setenv("SSL_CERT_FILE", str(other))
    async with Fetcher(backoff=0.05, retries=0) as f:  # type: ignore[arg-type]
        with pytest.raises(FetchError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify"):
            await f.get(url, source_id="s")

"""notifiers/redact.py: credentials written into URLs are never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli import main
from monitor.errors import DeliveryError, FetchError
from notifiers.redact import redact_url


@pytest.mark.parametrize(
    ("shown", "expected"),
    [
        ("https://bob:pw@x.org/feed", "https://***@x.org/feed"),
        ("https://bob@x.org:8443/", "https://***@x.org:8443/"),
        ("http://x.org/a?apikey=s&page=2", "http://x.org/a?apikey=***&page=2"),
        ("http://x.org/a?page=2&access_token=s#top", "http://x.org/a?page=2&access_token=***#top"),
        (
            "http://x/?API_KEY=a&X-Amz-Signature=b&sig=c",
            "http://x/?API_KEY=***&X-Amz-Signature=***&sig=***",
        ),
        (
            "http://x/?password=a&auth=b&client_secret=c",
            "http://x/?password=***&auth=***&client_secret=***",
        ),
        ("http://x/?key=a&token=b&secret=c", "http://x/?key=***&token=***&secret=***"),
        ("http://x/?q=token&monkey=1&page=", "http://x/?q=token&monkey=1&page="),
        ("http://x.org/path@y?id=3", "http://x.org/path@y?id=3"),  # an @ in the path is no userinfo
        (
            "fetch failed: GET https://u:p@a.org/x?token=t, then 'http://b.org/?key=k'",
            "fetch failed: GET https://***@a.org/x?token=***, then 'http://b.org/?key=***'",
        ),
        ("no URL at all, key=value", "no URL at all, key=value"),
    ],
)
def test_redact_url(shown: str, expected: str) -> None:
    assert redact_url(shown) == expected


def test_errors_carry_urls_without_credentials() -> None:
    fetch = FetchError("s", "https://bob:pw@x.org/f?apikey=k: HTTP 500")
    assert str(fetch) == "[s] https://***@x.org/f?apikey=***: HTTP 500"
    assert fetch.reason == "https://***@x.org/f?apikey=***: HTTP 500"
    delivery = DeliveryError("webhook POST to http://u:p@h.org: HTTP 503", permanent=False)
    assert str(delivery) == "webhook POST to http://***@h.org: HTTP 503"


def test_check_prints_no_credentials(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(
        "version: 1\nsources:\n"
        "  - {id: a, name: A, kind: rss, url: 'ftp://bob:Pass1word@x.org/f?apikey=Key2value'}\n",
        encoding="utf-8",
    )
    assert main(["--config", str(path), "check"]) == 2
    err = capsys.readouterr().err
    assert "sources[0].url: 'ftp://***@x.org/f?apikey=***': only http and https" in err
    assert "Pass1word" not in err and "Key2value" not in err

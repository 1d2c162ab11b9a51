"""What a real browser sends: the request every benchmark here replays.

A returning visitor on a typical site carries about ten cookies (consent,
analytics, CSRF, a framework session) besides sstrack's own pair, and a
dozen request headers. Benchmarking with a bare ``GET /`` would hide the
cost of finding two cookies in a long header, so every script uses these.
"""

from __future__ import annotations

import time

__all__ = ["PATH", "USER_AGENT", "browser_headers", "cookie_header", "sstrack_cookies"]

PATH = "/?utm_source=newsletter&utm_medium=email"
USER_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/126.0.0.0 Safari/537.36")

# Fixed ids, so every run replays the same visitor (sstrack keeps the id it finds).
_VISITOR_ID = "4c9f1b52-8d3e-4a6f-9b1e-2f7a5c8d0e13"
_SESSION_ID = "7e2d4a10-3b5c-4f8e-a9d1-6c0b2e4f8a75"

# The other cookies a returning visitor has, in the order sites usually set them.
_OTHER_COOKIES = (
    "OptanonAlertBoxClosed=2024-05-14T09:12:33.517Z",
    "OptanonConsent=isGpcEnabled=0&datestamp=Tue+May+14+2024+11%3A12%3A33+GMT%2B0200"
    "&version=202402.1.0&groups=C0001%3A1%2CC0002%3A1%2CC0003%3A1%2CC0004%3A1",
    "_ga=GA1.1.1402739263.1715677953",
    "_ga_Q1W2E3R4T5=GS1.1.1715677953.3.1.1715678109.0.0.0",
    "_gcl_au=1.1.2094761233.1715677953",
    "_fbp=fb.1.1715677953512.1936254778",
    "csrftoken=Xq3kB9mZp2Lr7Tf4Wd8Yh1Nc6Vs0Ja5G",
    "sessionid=k2v9x7q1m4z8p3w6t0r5y2u8i1o4a7s3",
)


def sstrack_cookies(now: float | None = None) -> str:
    """A valid ``sst_id``/``sst_ses`` pair, seen just now (so no Set-Cookie is due).

    The session stamp must be fresh: sstrack rewrites ``sst_ses`` once its
    last-activity time is a minute old, so callers build this per run.
    """
    stamp = int(time.time() if now is None else now)
    return f"sst_id={_VISITOR_ID}; sst_ses={_SESSION_ID}.3.{stamp}.{stamp}"


def cookie_header(returning: bool = True, now: float | None = None) -> str:
    """The Cookie header of a returning visitor (10 cookies), or of a new one (8, no sstrack)."""
    cookies = list(_OTHER_COOKIES)
    if returning:
        cookies[4:4] = [sstrack_cookies(now)]  # ours sit among the others, not conveniently first
    return "; ".join(cookies)


def browser_headers(returning: bool = True, now: float | None = None) -> list[tuple[str, str]]:
    """Chrome's request headers for a page view, with the visitor's cookies (no Host)."""
    headers = [
        ("sec-ch-ua", '"Not/A)Brand";v="8", "Chromium";v="126", "Google Chrome";v="126"'),
        ("sec-ch-ua-mobile", "?0"),
        ("sec-ch-ua-platform", '"Windows"'),
        ("upgrade-insecure-requests", "1"),
        ("user-agent", USER_AGENT),
        ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
                   "image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-mode", "navigate"),
        ("sec-fetch-user", "?1"),
        ("sec-fetch-dest", "document"),
        ("referer", "https://www.google.com/"),
        ("accept-encoding", "gzip, deflate, br, zstd"),
        ("accept-language", "de-CH,de;q=0.9,en-US;q=0.8,en;q=0.7"),
    ]
    headers.append(("cookie", cookie_header(returning, now)))
    return headers


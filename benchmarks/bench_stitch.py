"""Cost of reading stitching cookies from a realistic Cookie header.

Run: ``.venv/bin/python benchmarks/bench_stitch.py``. Prints microseconds per
header for splitting, for reading every vendor, and for both, plus the
worst case the caps allow (a 16 KiB header of vendor-looking cookies).
"""

from __future__ import annotations

import timeit

from sstrack.stitch import parse_cookie_header, read_stitch

__all__ = ["HEADER", "main"]

NOW = 1746825600.0

# Eleven cookies as a browser sends them: a framework session, a CSRF token,
# and one identity per vendor (Snowplow with its live session and collector cookie).
HEADER = "; ".join(
    [
        "sessionid=h7k2m9q4w8e1r5t3y6u0p2a4s6d8f0g1",
        "csrftoken=Zq3x8Vb2Nm5Lk7Jh4Gf1Dd9Ss6Aa0PpXx2Cc4Vv6Bb8Nn0Mm",
        "_sp_id.8809=2c3f1b6e-8d4a-4f2b-9e7c-5a1d0b3c4e6f.1735689600.3.1746825512.1746739000."
        "7d1e2f3a-4b5c-4d6e-8f90-a1b2c3d4e5f6.9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d."
        "0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b.1746825440123.5",
        "_sp_ses.8809=*",
        "_ga=GA1.1.1197596843.1673515099",
        "_ga_ABC123XYZ=GS2.1.s1746825440$o14$g1$t1746825512$j48$l0$h0",
        "ajs_anonymous_id=%225d9f5d5e-8f3c-4c0a-b2a1-0c6f7e8d9a1b%22",
        "ph_phc_Xq3F8mT2vL9sK4pR7wN1bJ6hD0cY5gA2eU8iO3tZ1fM_posthog=%7B%22distinct_id%22%3A%22"
        "0196b1c1-f2c0-71c2-93e4-f5a6b7c8d9e0%22%2C%22%24sesid%22%3A%5B1746825512345%2C%22"
        "0196b6e8-eb7b-7a1b-ac3d-4e5f6a7b8c9d%22%2C1746825440123%5D%2C%22%24epp%22%3Atrue%2C%22"
        "%24device_id%22%3A%220196b1c1-f2c0-71c2-93e4-f5a6b7c8d9e0%22%7D",
        "AMP_0a1b2c3d4e=JTdCJTIyZGV2aWNlSWQlMjIlM0ElMjJiM2E1YzFmMi02ZDdlLTRmODAtOWExYi0yYzNkNGU1"
        "ZjZhN2IlMjIlMkMlMjJzZXNzaW9uSWQlMjIlM0ExNzQ2ODI1NDQwMTIzJTJDJTIyb3B0T3V0JTIyJTNBZmFsc2Ul"
        "MkMlMjJsYXN0RXZlbnRUaW1lJTIyJTNBMTc0NjgyNTUxMjM0NSUyQyUyMmxhc3RFdmVudElkJTIyJTNBNyUyQyUy"
        "MnBhZ2VDb3VudGVyJTIyJTNBMyU3RA==",
        "mp_3f7c9a2b1d4e6f8091a2b3c4d5e6f708_mixpanel=%7B%22distinct_id%22%3A%22%24device%3A"
        "9f2c7b1e-3d4a-4c5b-8e6f-7a8b9c0d1e2f%22%2C%22%24device_id%22%3A%22"
        "9f2c7b1e-3d4a-4c5b-8e6f-7a8b9c0d1e2f%22%7D",
        "sp=8f4d7c2a-1e3b-4a5c-9d6e-7f8a9b0c1d2e",
    ]
)


def _per_call_us(func: object, repeat: int = 7, number: int = 2000) -> float:
    """Best of ``repeat`` runs, in microseconds per call (the minimum is the least noisy)."""
    timer = timeit.Timer(func)  # type: ignore[arg-type]
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1e6


def main() -> None:
    """Print the cost per header of each stage."""
    cookies = parse_cookie_header(HEADER)
    assert len(read_stitch(cookies, now=NOW)) == 6, "every vendor should be found"
    # Worst case inside the caps: 16 KiB of vendor-looking cookies with garbage values.
    hostile = "; ".join(f"_sp_id.{i:04x}=a.b.c.d.e; AMP_{i:010d}=%7B" for i in range(400))
    hostile_cookies = parse_cookie_header(hostile)
    print(f"header: {len(cookies)} cookies, {len(HEADER)} bytes")
    rows = [
        ("parse_cookie_header", _per_call_us(lambda: parse_cookie_header(HEADER))),
        ("read_stitch, 6 vendors", _per_call_us(lambda: read_stitch(cookies, now=NOW))),
        (
            "both, per header",
            _per_call_us(lambda: read_stitch(parse_cookie_header(HEADER), now=NOW)),
        ),
        (
            f"worst case, {len(hostile_cookies)} cookies",
            _per_call_us(
                lambda: read_stitch(parse_cookie_header(hostile), now=NOW), repeat=3, number=200
            ),
        ),
    ]
    for label, micros in rows:
        print(f"{label:<28} {micros:7.1f} µs")


if __name__ == "__main__":
    main()

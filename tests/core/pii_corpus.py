"""A labeled corpus for measuring redaction: positives hold exactly one PII item, negatives none.

Negatives are the strings a coding agent writes all day that *look* like PII to a careless
pattern: versions, dates, UUIDs, SHAs, ports, order numbers that fail Luhn, C++ ``::``, slices.

Secrets are assembled from pieces at import time so that secret scanners (GitHub push
protection and the like) do not flag this file; none of them is a real credential.
"""

from __future__ import annotations

import base64

_B62 = "aZ3kQ9mX2pL7vR4tY8wN1cF6hJ0sD5gB"


def _body(n: int, alphabet: str = _B62, seed: int = 0) -> str:
    return "".join(alphabet[(i * 7 + seed * 13 + 3) % len(alphabet)] for i in range(n))


_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
SK = "sk" + "-" + _body(48)
SK_PROJ = "sk" + "-proj-" + _body(40, seed=1) + "_" + _body(20, seed=2)
GHP = "gh" + "p_" + _body(36, seed=3)
GHP2 = "gh" + "p_" + _body(36, seed=4)
AKIA = "AK" + "IA" + _body(16, _UPPER, seed=5)
AKIA2 = "AK" + "IA" + _body(16, _UPPER, seed=6)
XOXB = "xo" + "xb-" + "1234567890123-1234567890123-" + _body(24, seed=7)
XOXB2 = "xo" + "xb-" + "2718281828459-3141592653589-" + _body(24, seed=8)


def _jwt(sub: str) -> str:
    def seg(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return ".".join([seg(b'{"alg":"HS256","typ":"JWT"}'), seg(f'{{"sub":"{sub}","iat":1700000000}}'.encode()),
                     _body(43, _B62 + "-_", seed=9)])


JWT = _jwt("1234567890")
JWT2 = _jwt("svc-deploy")
BEARER = _body(40, seed=10) + "." + _body(12, seed=11)
BEARER2 = _body(32, seed=12)


def _pem(kind: str) -> str:
    label = f"{kind}PRIVATE" + " KEY"
    lines = [_body(64, _B62 + "+/", seed=s) for s in range(13, 17)]
    return "-----BEGIN " + label + "-----\n" + "\n".join(lines) + "\n-----END " + label + "-----"


PEM_RSA = _pem("RSA ")
PEM_EC = _pem("EC ")

# (kind, text, the PII substring that must be gone after redaction)
POSITIVES: list[tuple[str, str, str]] = [
    ("EMAIL", "please contact jane.doe@example.com about the flaky test", "jane.doe@example.com"),
    ("EMAIL", "Author: Bob Smith <bob+ci@mail.company.co.uk>", "bob+ci@mail.company.co.uk"),
    ("EMAIL", "send the logs to ops-team@infra.example.org.", "ops-team@infra.example.org"),
    ("EMAIL", "git config --global user.email alice_w@corp.io", "alice_w@corp.io"),
    ("EMAIL", "Signed-off-by: Li Wei <li.wei1987@gmail.com>", "li.wei1987@gmail.com"),
    ("PHONE", "call (415) 555-0132 tomorrow about the release", "(415) 555-0132"),
    ("PHONE", "support line: 415-555-0199 (weekdays)", "415-555-0199"),
    ("PHONE", "his phone is 415.555.0123, ask for Sam", "415.555.0123"),
    ("PHONE", "reach me at +1 415 555 0134 after 5pm", "+1 415 555 0134"),
    ("PHONE", "London office: +44 20 7946 0958", "+44 20 7946 0958"),
    ("PHONE", "Paris: +33 1 42 68 53 00 (reception)", "+33 1 42 68 53 00"),
    ("PHONE", "mobile +91 98765 43210 for the on-call engineer", "+91 98765 43210"),
    ("PHONE", "Tokyo desk +81-3-1234-5678", "+81-3-1234-5678"),
    ("PHONE", "Berlin: +49 30 9018 2034", "+49 30 9018 2034"),
    ("PHONE", "Sydney +61 2 9374 4000", "+61 2 9374 4000"),
    ("SSN", "customer SSN 123-45-6789 was in the fixture", "123-45-6789"),
    ("SSN", "ssn: 078-05-1120", "078-05-1120"),
    ("SSN", "her social is 219-09-9999 per the form", "219-09-9999"),
    ("CARD", "charged card 4111 1111 1111 1111 twice", "4111 1111 1111 1111"),
    ("CARD", "mastercard 5500-0000-0000-0004 declined", "5500-0000-0000-0004"),
    ("CARD", "amex=378282246310005", "378282246310005"),
    ("CARD", "test with 4012888888881881 in staging", "4012888888881881"),
    ("CARD", "Discover 6011111111111117 expires 12/27", "6011111111111117"),
    ("IP", "connection from 192.168.1.23 rejected", "192.168.1.23"),
    ("IP", "upstream 10.20.0.5:8080 refused the connection", "10.20.0.5"),
    ("IP", "client_ip=203.0.113.77 user_agent=curl", "203.0.113.77"),
    ("IP", "ssh deploy@ into 172.16.254.1 failed", "172.16.254.1"),
    ("IP", "peer 2001:db8:85a3::8a2e:370:7334 timed out", "2001:db8:85a3::8a2e:370:7334"),
    ("IP", "link-local fe80::1ff:fe23:4567:890a on eth0", "fe80::1ff:fe23:4567:890a"),
    ("IP", "addr 2001:0db8:0000:0000:0000:ff00:0042:8329 assigned", "2001:0db8:0000:0000:0000:ff00:0042:8329"),
    ("API_KEY", f"OPENAI_API_KEY={SK}", SK),
    ("API_KEY", f'client = OpenAI(api_key="{SK_PROJ}")', SK_PROJ),
    ("API_KEY", f"export GITHUB_TOKEN={GHP}", GHP),
    ("API_KEY", f"git clone https://{GHP2}@github.com/org/repo.git", GHP2),
    ("API_KEY", f"aws_access_key_id = {AKIA}", AKIA),
    ("API_KEY", f"the key {AKIA2} was rotated", AKIA2),
    ("API_KEY", f"SLACK_BOT_TOKEN: {XOXB}", XOXB),
    ("API_KEY", f"slack.WebClient(token='{XOXB2}')", XOXB2),
    ("JWT", f"cookie session={JWT}; Path=/", JWT),
    ("JWT", f"id_token: {JWT2}", JWT2),
    ("BEARER", f"curl -H 'Authorization: Bearer {BEARER}' https://api.internal", BEARER),
    ("BEARER", f"headers = {{'authorization': 'bearer {BEARER2}'}}", BEARER2),
    ("PRIVATE_KEY", f"here is the deploy key:\n{PEM_RSA}\nkeep it safe", PEM_RSA),
    ("PRIVATE_KEY", f"cat key.pem\n{PEM_EC}", PEM_EC),
]

# strings that must come back unchanged
NEGATIVES: list[str] = [
    "bumped the package to version 1.2.3",
    "requires python 3.11.7 and numpy==1.26.4",
    "upgrade to v2.10.0-rc.1 before the freeze",
    "semver range ^1.4.0 || ~2.0.3",
    "Windows build 10.0.19045.3693 reproduces it",
    "Chrome 120.0.6099.109 on macOS 14.2.1",
    "released on 2024-03-15, patched 15/03/2024",
    "the job started at 12:34:56 and ended at 14:05",
    "timestamp 2024-03-15T12:34:56.789+00:00 in the log",
    "elapsed 00:01:23.456 for 1,234,567 rows",
    "request_id 550e8400-e29b-41d4-a716-446655440000",
    "trace 123e4567-e89b-12d3-a456-426614174000 sampled",
    "commit 3f786850e387550fdab836ed7e6dc881de23001b fixed it",
    "cherry-pick a1b2c3d onto main",
    "color: #ff8800; background: #1E90FF;",
    "listening on port 8080 (metrics on :9090)",
    "connect to localhost:5432 with psql",
    "order 1234567812345678 shipped",
    "order #4242424242424241 refunded",
    "invoice number 4111 1111 1111 1112 is void",
    "ISBN 978-3-16-148410-0 in the bibliography",
    "created_at_ms = 1700000015838",
    "event time 1700000158380 ms since epoch",
    "ns timestamp 1731000003333333303 from the tracer",
    "x = (3 + 4) * 12 - 7 / 2",
    "assert 2**16 == 65536 and 10 % 3 == 1",
    "std::vector<int> v{1, 2, 3}; std::sort(v.begin(), v.end());",
    "auto d = std::chrono::milliseconds(250);",
    "Eigen::Matrix3d m = Eigen::Matrix3d::Identity();",
    "evens = nums[0::2]; odds = nums[1::2]",
    "tail = data[10::3]",
    "FAILED tests/test_api.py::test_create_user[case-2] - AssertionError",
    "open('/usr/lib/python3.11/site-packages/pkg/__init__.py')",
    r"C:\Users\dev\projects\app\build\x64\Release",
    "learning rate 3e-4, dropout 0.1, pi ~ 3.14159",
    "scale = 6.022e23 * 1.602e-19",
    "unix time 1700000000 is 2023-11-14",
    "HTTP/1.1 200 OK, Content-Length: 1532",
    "resolution 1920x1080 at 59.94 Hz",
    "pointer 0x7fff5fbff8c8 freed twice",
    "@pytest.fixture(scope='module')",
    "@app.post('/v1/runs', status_code=201)",
    "git remote add origin git@github.com:org/repo.git",
    "brew install python@3.11",
    "set the header 'Authorization: Bearer $TOKEN' from the env",
    "the bearer of this token must refresh it every hour",
    "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----",
    "read the -----BEGIN PUBLIC KEY----- block",
    "run 3 epochs, batch 2, lr 2e-4, rank 16",
    "matrix shape (128, 384, 1024)",
    "ticket JIRA-1234 and PR #5678",
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
]

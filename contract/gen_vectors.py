"""Generate the shared test vectors in contract/vectors/ from CPython's difflib.

Run `python contract/gen_vectors.py` after changing this file and commit its output. The
output is deterministic (fixed seeds, sorted keys), so a re-run without changes leaves git
clean. The format is described in contract/CONTRACT.md, "Test vectors".
"""

from __future__ import annotations

import base64
import difflib
import json
import random
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "vectors"
MAX_BODY = 16 * 1024 * 1024
MAX_TOKENS = 100_000

Segments = list[list[Any]]


def seg(data: bytes, count: int = 1) -> list[Any]:
    """One body segment: base64 of `data`, repeated `count` times."""
    return [base64.b64encode(data).decode("ascii"), count]


def opcodes(a: list[str], b: list[str]) -> list[list[Any]]:
    """The reference answer: difflib with stdlib defaults."""
    return [list(op) for op in difflib.SequenceMatcher(None, a, b).get_opcodes()]


def diff_vectors() -> list[dict[str, Any]]:
    """At least 80 diff vectors covering the cases CONTRACT.md names."""
    rng = random.Random(20261123)
    cases: list[tuple[str, list[str], list[str], dict[str, Any] | None]] = []

    def add(name: str, a: list[str], b: list[str], extra: dict[str, Any] | None = None) -> None:
        cases.append((name, a, b, extra))

    # Empty sides, identical, disjoint.
    add("empty-both", [], [])
    add("empty-a", [], ["x", "y", "z"])
    add("empty-b", ["x", "y", "z"], [])
    add("identical-one", ["same"], ["same"])
    add("identical-many", [f"line {i}" for i in range(50)], [f"line {i}" for i in range(50)])
    add("disjoint", ["a", "b", "c"], ["d", "e", "f", "g"])
    add("disjoint-one-each", ["left"], ["right"])
    # Single edits.
    add("insert-middle", ["a", "b", "d"], ["a", "b", "c", "d"])
    add("delete-middle", ["a", "b", "c", "d"], ["a", "b", "d"])
    add("replace-middle", ["a", "b", "c", "d"], ["a", "X", "Y", "d"])
    add("insert-front", ["b", "c"], ["a", "b", "c"])
    add("insert-back", ["a", "b"], ["a", "b", "c"])
    add("delete-front", ["a", "b", "c"], ["b", "c"])
    add("delete-back", ["a", "b", "c"], ["a", "b"])
    add("moved-block", ["1", "2", "3", "4", "5", "6"], ["4", "5", "6", "1", "2", "3"])
    add("swap-pair", ["x", "y"], ["y", "x"])
    add("duplicate-lines", ["a", "a", "b", "a", "a"], ["a", "b", "a", "b", "a"])
    # Empty-string and whitespace tokens.
    add("empty-string-tokens", ["", "", "x", ""], ["", "x", "", ""])
    add("whitespace-tokens", [" ", "\t", "\n", "  "], ["\t", " ", "\r\n", "  ", " "])
    add("trailing-space-differs", ["word", "word "], ["word ", "word"])
    add("only-empty-strings", [""] * 5, [""] * 3)
    # No Unicode normalisation.
    add("precomposed-vs-combining", ["caf\u00e9"], ["cafe\u0301"])
    add("nfc-nfd-lines", ["\u00c5ngstr\u00f6m", "na\u00efve", "x"], ["A\u030angstro\u0308m", "na\u00efve", "x"])
    add("hangul-jamo", ["\ud55c\uae00"], ["\u1112\u1161\u11ab\u1100\u1173\u11af"])
    add("case-differs", ["Hello", "WORLD"], ["hello", "WORLD"])
    # Astral-plane characters.
    add("astral-emoji", ["\U0001f600", "\U0001f680 rocket", "x"], ["\U0001f600", "\U0001f681 rocket", "x"])
    add("astral-music", ["\U0001d11e", "\U0001d11f"], ["\U0001d11f", "\U0001d11e", "\U0001d11f"])
    add("astral-edges", ["\U00010000", "\U0010ffff", "\ud7ff", "\ue000", "\uffff"], ["\U0010ffff", "\U00010000", "\ufffd", "\ud7ff"])
    add("astral-family-zwj", ["\U0001f468\u200d\U0001f469\u200d\U0001f467"], ["\U0001f468", "\u200d", "\U0001f469"])
    # Control characters and JSON escapes.
    add("control-chars", ["\x00", "\x01", "\x1b[0m", "\x7f"], ["\x00", "\x1b[1m", "\x7f", "\x08"])
    add("nul-inside", ["a\x00b", "c"], ["a\x00c", "c"])
    add("json-escapes", ['"quoted"', "back\\slash", "/slash", "\u2028\u2029"], ['"quoted"', "back\\\\slash", "/slash"])
    add("long-token", ["x" * 5000, "y"], ["x" * 4999, "y"])
    # Extra keys in the request are ignored.
    add("extra-keys-ignored", ["a", "b"], ["b", "c"], {"c": [1, 2], "note": "ignored", "autojunk": False})
    # Tiny alphabets with many repeats: tie-breaking in find_longest_match.
    for alphabet in ("ab", "abc", "a"):
        for n in (3, 8, 20, 60):
            for k in range(2):
                a = [rng.choice(alphabet) for _ in range(n)]
                b = [rng.choice(alphabet) for _ in range(n + rng.randint(-2, 2))]
                add(f"tiny-{alphabet}-{n}-{k}", a, b)
    add("ties-equal-blocks", list("abab"), list("baba"))
    add("ties-aaa-aa", list("aaa"), list("aa"))
    add("ties-abcabc", list("abcabc"), list("cbacba"))
    # The autojunk boundary: len(b) 199, 200, 201 and larger, with popular tokens.
    for lb in (199, 200, 201, 250, 400, 1000):
        popular = max(2, lb // 100 + 2)  # occurs more than len(b)//100 + 1 times
        b = ["pop"] * popular + [f"u{i}" for i in range(lb - popular)]
        rng.shuffle(b)
        a = list(b)
        for i in range(0, len(a), 7):
            a[i] = "pop" if i % 2 else f"changed{i}"
        add(f"autojunk-b{lb}", a, b)
        # The same, popular tokens exactly at the threshold (not popular).
        threshold = lb // 100 + 1
        b2: list[str] = ["edge"] * threshold + [f"v{i}" for i in range(lb - threshold)]
        rng.shuffle(b2)
        a2 = ["edge"] + b2[: lb // 2] + ["edge", "new"] + b2[lb // 2 :]
        add(f"autojunk-threshold-b{lb}", a2, b2)
    add("autojunk-blank-lines", ([""] * 10 + ["text"]) * 25, ([""] * 10 + ["text", "more"]) * 25)
    # HTML documents split into tokens.
    html_a = _html_document(rng, 40)
    html_b = _mutate(rng, html_a, 0.1)
    add("html-lines", html_a, html_b)
    add("html-tags", _html_tags(" ".join(html_a)), _html_tags(" ".join(html_b)))
    big_html = _html_document(rng, 400)
    add("html-large", big_html, _mutate(rng, big_html, 0.05))
    # Prose.
    poem_a = "the quick brown fox jumps over the lazy dog and the dog sleeps".split()
    poem_b = "the quick red fox leaps over the lazy dog while the cat sleeps".split()
    add("words", poem_a, poem_b)
    add("chars", list("interoperability"), list("interpretability"))
    # A few thousand tokens.
    for n, rate, name in ((2000, 0.02, "lines-2000"), (3000, 0.1, "lines-3000"), (5000, 0.01, "lines-5000")):
        a = [f"{rng.choice(['def', 'return', 'if', 'x = ', '#'])} {rng.randint(0, n // 3)}" for _ in range(n)]
        add(name, a, _mutate(rng, a, rate))
    # The bench payload: about 200 tokens (what scenarios use).
    base = [f"token{rng.randint(0, 60)}" for _ in range(100)]
    add("bench-200-tokens", base, _mutate(rng, base, 0.1))
    # Random mid-size cases with moderate alphabets.
    for k in range(12):
        vocabulary = [f"w{i}" for i in range(rng.randint(3, 40))]
        a = [rng.choice(vocabulary) for _ in range(rng.randint(0, 300))]
        b = _mutate(rng, a, rng.choice([0.0, 0.05, 0.3, 0.9]))
        add(f"random-{k}", a, b)

    out = []
    for name, a, b, extra in cases:
        v: dict[str, Any] = {"name": name, "a": a, "b": b, "opcodes": opcodes(a, b)}
        if extra:
            v["extra"] = extra
        out.append(v)
    return out


def _mutate(rng: random.Random, tokens: list[str], rate: float) -> list[str]:
    """A copy of `tokens` with about `rate` of them deleted, replaced or preceded by inserts."""
    out: list[str] = []
    for t in tokens:
        r = rng.random()
        if r < rate / 3:
            continue
        if r < 2 * rate / 3:
            out.append(f"{t}!")
            continue
        if r < rate:
            out.append(f"inserted {rng.randint(0, 999)}")
        out.append(t)
    return out


def _html_document(rng: random.Random, paragraphs: int) -> list[str]:
    """An HTML page as a list of lines."""
    lines = ["<!DOCTYPE html>", "<html lang=\"en\">", "<head>", "  <meta charset=\"utf-8\">",
             "  <title>Report</title>", "</head>", "<body>", "  <ul class=\"nav\">"]
    lines += [f"    <li><a href=\"/p/{i}\">Page {i}</a></li>" for i in range(8)]
    lines.append("  </ul>")
    words = "alpha beta gamma delta &amp; &lt;tag&gt; caf\u00e9 \U0001f4c8 naive".split()
    for i in range(paragraphs):
        lines.append(f"  <p id=\"p{i}\">")
        lines.append("    " + " ".join(rng.choice(words) for _ in range(rng.randint(3, 9))))
        lines.append("  </p>")
    lines += ["</body>", "</html>"]
    return lines


def _html_tags(text: str) -> list[str]:
    """Split HTML into tag and text tokens."""
    tokens: list[str] = []
    buf = ""
    for ch in text:
        if ch == "<" and buf:
            tokens.append(buf)
            buf = ""
        buf += ch
        if ch == ">":
            tokens.append(buf)
            buf = ""
    if buf:
        tokens.append(buf)
    return tokens


def echo_vectors() -> list[dict[str, Any]]:
    """At least 15 echo vectors: sizes, binary content, the limit itself."""
    rng = random.Random(64)
    v = [
        ("empty", [seg(b"")]),
        ("one-byte", [seg(b"x")]),
        ("nul-byte", [seg(b"\x00")]),
        ("ascii-64", [seg(b"0123456789abcdef", 4)]),
        ("all-byte-values", [seg(bytes(range(256)))]),
        ("invalid-utf8", [seg(b"\xff\xfe\xc3\x28 not utf-8")]),
        ("utf8-text", [seg("caf\u00e9 \U0001f600 \u00e9".encode())]),
        ("newlines-crlf", [seg(b"line\r\nline\n\r\n")]),
        ("looks-like-json-error", [seg(b'{"error": "bad_request", "message": "echo is opaque"}')]),
        ("looks-like-http", [seg(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")]),
        ("looks-like-redis-header", [seg(b"echo id key\nbody")]),
        ("random-1k", [seg(rng.randbytes(1024))]),
        ("random-64k", [seg(rng.randbytes(65536))]),
        ("pattern-255", [seg(b"\xab", 255)]),
        ("pattern-256", [seg(b"\xcd", 256)]),
        ("pattern-65535", [seg(b"z", 65535)]),
        ("pattern-1mib", [seg(b"0123456789ABCDEF", 65536)]),
        ("exactly-limit", [seg(b"L" * 1024, MAX_BODY // 1024)]),
    ]
    return [{"name": name, "body": body} for name, body in v]


def _json_body(obj: Any) -> Segments:
    return [seg(json.dumps(obj).encode())]


def error_vectors() -> list[dict[str, Any]]:
    """One or more error vectors for every row of the contract's error table."""
    tokens = MAX_TOKENS // 2
    big_diff = [
        seg(b'{"a": ['), seg(b'"x", ', tokens), seg(b'"x"], "b": ['), seg(b'"y", ', tokens), seg(b'"y"]}'),
    ]
    v: list[dict[str, Any]] = [
        # bad_request
        {"name": "diff-not-utf8", "op": "diff", "body": [seg(b'{"a": ["\xff"], "b": []}')], "error": "bad_request", "layer": "bytes"},
        {"name": "diff-overlong-utf8", "op": "diff", "body": [seg(b'{"a": ["\xc0\xaf"], "b": []}')], "error": "bad_request", "layer": "bytes"},
        {"name": "diff-utf8-encoded-surrogate", "op": "diff", "body": [seg(b'{"a": ["\xed\xa0\x80"], "b": []}')], "error": "bad_request", "layer": "bytes"},
        {"name": "diff-not-json", "op": "diff", "body": [seg(b"this is not json")], "error": "bad_request", "layer": "bytes"},
        {"name": "diff-empty-body", "op": "diff", "body": [seg(b"")], "error": "bad_request", "layer": "bytes"},
        {"name": "diff-truncated-json", "op": "diff", "body": [seg(b'{"a": ["x", "y"], "b": ["')], "error": "bad_request", "layer": "bytes"},
        {"name": "diff-trailing-garbage", "op": "diff", "body": [seg(b'{"a": [], "b": []} x')], "error": "bad_request", "layer": "bytes"},
        {"name": "diff-not-object-array", "op": "diff", "body": _json_body([["a"], ["b"]]), "error": "bad_request", "layer": "bytes"},
        {"name": "diff-not-object-string", "op": "diff", "body": _json_body("a,b"), "error": "bad_request", "layer": "bytes"},
        {"name": "diff-not-object-null", "op": "diff", "body": _json_body(None), "error": "bad_request", "layer": "bytes"},
        {"name": "diff-missing-a", "op": "diff", "body": _json_body({"b": ["x"]}), "error": "bad_request", "layer": "bytes"},
        {"name": "diff-missing-b", "op": "diff", "body": _json_body({"a": ["x"]}), "error": "bad_request", "layer": "bytes"},
        {"name": "diff-a-not-array", "op": "diff", "body": _json_body({"a": "xyz", "b": []}), "error": "bad_request", "layer": "args"},
        {"name": "diff-b-null", "op": "diff", "body": _json_body({"a": [], "b": None}), "error": "bad_request", "layer": "args"},
        {"name": "diff-number-token", "op": "diff", "body": _json_body({"a": ["x", 1], "b": []}), "error": "bad_request", "layer": "args"},
        {"name": "diff-null-token", "op": "diff", "body": _json_body({"a": [], "b": [None]}), "error": "bad_request", "layer": "args"},
        {"name": "diff-nested-array-token", "op": "diff", "body": _json_body({"a": [["x"]], "b": []}), "error": "bad_request", "layer": "args"},
        {"name": "diff-huge-number-token", "op": "diff", "body": [seg(b'{"a": [1' + b"0" * 400 + b'], "b": []}')], "error": "bad_request", "layer": "bytes"},
        {"name": "diff-lone-high-surrogate", "op": "diff", "body": [seg(b'{"a": ["\\ud800"], "b": []}')], "error": "bad_request", "layer": "bytes"},
        {"name": "diff-lone-low-surrogate", "op": "diff", "body": [seg(b'{"a": [], "b": ["x\\udc00y"]}')], "error": "bad_request", "layer": "bytes"},
        {"name": "diff-reversed-surrogates", "op": "diff", "body": [seg(b'{"a": ["\\udc00\\ud800"], "b": []}')], "error": "bad_request", "layer": "bytes"},
        {"name": "diff-deeply-nested", "op": "diff", "body": [seg(b'{"a": '), seg(b"[", 100_000), seg(b"]", 100_000), seg(b', "b": []}')], "error": "bad_request", "layer": "bytes"},
        # unknown_op
        {"name": "unknown-op", "op": "frobnicate", "body": [seg(b"")], "error": "unknown_op", "layer": "op"},
        {"name": "unknown-op-with-body", "op": "Echo2", "body": [seg(b"payload")], "error": "unknown_op", "layer": "op"},
        # too_large
        {"name": "echo-over-limit", "op": "echo", "body": [seg(b"L" * 1024, MAX_BODY // 1024), seg(b"!")], "error": "too_large", "layer": "any"},
        {"name": "diff-over-token-limit", "op": "diff", "body": big_diff, "error": "too_large", "layer": "any"},
        # internal (needs BENCH_TEST_HOOKS=1 in the service's environment)
        {"name": "internal-fault-hook", "op": "diff", "body": _json_body({"a": ["__bench_fault__:internal"], "b": []}), "error": "internal", "layer": "any"},
    ]
    return v


def write(name: str, vectors: list[dict[str, Any]]) -> None:
    """Write one vector file, deterministic and diff-friendly (one vector per line)."""
    path = OUT / name
    lines = [json.dumps(v, ensure_ascii=True, sort_keys=True) for v in vectors]
    text = '{"version": 1, "vectors": [\n' + ",\n".join(lines) + "\n]}\n"
    path.write_text(text, encoding="ascii")
    print(f"{path}: {len(vectors)} vectors, {len(text)} bytes")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    diffs = diff_vectors()
    names = [v["name"] for v in diffs]
    assert len(names) == len(set(names)), "duplicate vector names"
    write("diff.json", diffs)
    write("echo.json", echo_vectors())
    write("errors.json", error_vectors())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Seeded generators of malformed input for `python -m harness fuzz`.

Every input is a pure function of (seed, transport, index): `generate(seed, transport, i)`
seeds its own `random.Random` from those three values, so a failure is reproduced from the
seed and the index alone. An input is either op-level (an `op` and a `body` sent through the
transport's ordinary client) or transport-level (raw bytes on a socket, raw zmq frames, a raw
redis message, a raw gRPC payload, a raw Celery task), with the outcomes it may have.
"""

from __future__ import annotations

import difflib
import json
import random
import string
import struct
from dataclasses import dataclass, field
from typing import Any

MAX_BODY = 16 * 1024 * 1024
MAX_TOKENS = 100_000

OP_CATEGORIES = ("random_bytes", "truncated_json", "deep_nesting", "wrong_types", "huge_numbers",
                 "invalid_utf8", "surrogates", "control_chars", "duplicate_keys", "long_strings",
                 "unknown_op", "valid_diff", "echo_bytes", "too_large")
"""Op-level categories, carried by every transport that can carry them."""

TRANSPORT_CATEGORIES: dict[str, tuple[str, ...]] = {
    "http": ("http_garbage", "http_bad_request_line", "http_huge_headers", "http_cl_and_te", "http_bad_chunked",
             "http_bad_content_length", "http_09", "http_pipelined_junk", "http_stall"),
    "zmq": ("zmq_frame_count", "zmq_empty_frames", "zmq_huge_frames", "zmq_random_op", "zmtp_bad_signature",
            "zmtp_version_2", "zmtp_unknown_mechanism", "zmtp_truncated_stall", "zmtp_garbage_after_greeting",
            "zmtp_impossible_length"),
    "redis": ("redis_bad_header", "redis_huge_body"),
    "grpc": ("grpc_raw_echo", "grpc_raw_diff", "grpc_bad_utf8", "grpc_wrong_wire_type", "grpc_unknown_method",
             "h2_malformed"),
    "celery": ("celery_wrong_arg_count", "celery_wrong_types", "celery_unknown_task", "celery_bad_text"),
}
"""Transport-level categories per transport."""

# Op-level categories each transport can carry (gRPC and Celery carry typed requests only:
# their own categories cover malformed encodings).
_OP_LEVEL: dict[str, tuple[str, ...]] = {
    "http": OP_CATEGORIES, "zmq": OP_CATEGORIES, "redis": OP_CATEGORIES,
    "grpc": ("unknown_op", "valid_diff", "echo_bytes", "surrogates", "long_strings", "too_large"),
    "celery": ("unknown_op", "valid_diff", "wrong_types", "surrogates", "long_strings"),
}
_RARE = {"too_large": 0.02, "zmq_huge_frames": 0.1, "redis_huge_body": 0.1, "long_strings": 0.3,
         "deep_nesting": 0.5, "http_stall": 0.15, "zmtp_truncated_stall": 0.15}


@dataclass
class Input:
    """One generated input and what may legitimately come back.

    `accept` lists acceptable outcomes: "ok" or a contract error code; transport-level inputs
    also accept "closed" (the server closed the connection) and "http_<status>" families
    via `kind`. `opcodes` are the expected diff opcodes of an "ok" (any of the listed ones);
    `echo` asks for an ok reply equal to the body.
    """

    index: int
    category: str
    kind: str  # "op", "http_raw", "http_stall", "zmq_frames", "zmtp_raw", "zmtp_stall", "redis_raw",
    #            "grpc_raw", "h2_raw", "celery_task"
    op: str = ""
    body: bytes = b""
    frames: list[bytes] = field(default_factory=list)
    method: str = ""
    args: list[Any] = field(default_factory=list)
    accept: tuple[str, ...] = ()
    opcodes: list[list[list[Any]]] | None = None
    echo: bool = False

    def head(self, n: int = 80) -> str:
        """The first bytes of what is sent, for a reproducer line."""
        if self.kind == "zmq_frames":
            return repr([f[:16] for f in self.frames[:4]])[:n * 2] + f" ({len(self.frames)} frames)"
        if self.kind == "celery_task":
            return f"{self.method}({json.dumps(self.args, ensure_ascii=True)[:n]})"
        prefix = f"{self.op!r} " if self.kind in ("op", "grpc_raw") else ""
        return prefix + repr(self.body[:n]) + (f" ... ({len(self.body)} bytes)" if len(self.body) > n else "")


def rng_for(seed: int, transport: str, index: int) -> random.Random:
    """The generator of one input: a pure function of seed, transport and index."""
    return random.Random(f"{seed}/{transport}/{index}")


def categories(transport: str) -> tuple[str, ...]:
    """Every category generated for `transport`."""
    return _OP_LEVEL[transport] + TRANSPORT_CATEGORIES[transport]


def generate(seed: int, transport: str, index: int) -> Input:
    """Input number `index` of the stream for (`seed`, `transport`)."""
    rng = rng_for(seed, transport, index)
    cats = categories(transport)
    if index < len(cats):  # the first inputs cover every category once, so short runs see them all
        cat = cats[index]
    else:
        cat = rng.choices(cats, [_RARE.get(c, 1.0) for c in cats])[0]
    if cat in TRANSPORT_CATEGORIES[transport]:
        return _TRANSPORT_GEN[transport](rng, index, cat)
    return _op_input(rng, index, cat, transport)


def generate_many(seed: int, transport: str, n: int) -> list[Input]:
    """The first `n` inputs of the stream (for tests of determinism and coverage)."""
    return [generate(seed, transport, i) for i in range(n)]


# -- op-level -------------------------------------------------------------------------------

def _token(rng: random.Random, max_len: int = 8) -> str:
    alphabet = string.ascii_letters + string.digits + " \t\"\\/éß漢😀\u0301"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, max_len)))


def _tokens(rng: random.Random, n: int) -> list[str]:
    pool = [_token(rng) for _ in range(max(1, n // 3))]
    return [rng.choice(pool) for _ in range(rng.randint(0, n))]


def _opcodes(a: list[str], b: list[str]) -> list[list[Any]]:
    return [list(o) for o in difflib.SequenceMatcher(None, a, b).get_opcodes()]


def _diff_body(rng: random.Random, a: list[str], b: list[str], extra: dict[str, Any] | None = None) -> bytes:
    doc: dict[str, Any] = {"a": a, "b": b, **(extra or {})}
    return json.dumps(doc, ensure_ascii=rng.random() < 0.5).encode()


def unknown_op_name(rng: random.Random) -> str:
    """A random op that is none of the contract's (case-insensitively)."""
    while True:
        shape = rng.randrange(6)
        if shape == 0:
            op = ""
        elif shape == 1:
            op = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(1, 12)))
        elif shape == 2:
            op = "".join(rng.choice("éß漢字😀ñ") for _ in range(rng.randint(1, 6)))
        elif shape == 3:
            op = rng.choice(["echo ", " diff", "ECHO", "Diff2", "echo\x00", "diff\t", "health-", "_echo"])
        elif shape == 4:
            op = "x" * rng.randint(100, 5000)
        else:
            op = "".join(chr(rng.randint(33, 126)) for _ in range(rng.randint(1, 20)))
        if op.lower() not in ("echo", "diff", "health"):
            return op


def _op_input(rng: random.Random, index: int, cat: str, transport: str) -> Input:
    mk = Input(index=index, category=cat, kind="op")
    if cat == "unknown_op":
        mk.op = unknown_op_name(rng)
        mk.body = rng.randbytes(rng.randint(0, 64))
        mk.accept = ("unknown_op",)
        return mk
    if cat == "echo_bytes":
        size = rng.choice([0, 1, 7, 100, 4096, 70000])
        mk.op, mk.body, mk.echo, mk.accept = "echo", rng.randbytes(size), True, ("ok",)
        return mk
    if cat == "too_large":
        op = rng.choice(["echo", "diff"])
        mk.op, mk.body, mk.accept = op, b"[" * (MAX_BODY + 1) if op == "diff" else b"x" * (MAX_BODY + 1), ("too_large",)
        if transport == "grpc":
            mk.op = "echo"
        return mk
    if cat == "valid_diff":
        a, b = _tokens(rng, 30), _tokens(rng, 30)
        if rng.random() < 0.2:
            b = a[:]
            rng.shuffle(b)
        mk.op, mk.body = "diff", _diff_body(rng, a, b, {"extra": [1, None, {"x": "y"}]} if rng.random() < 0.3 else None)
        mk.accept, mk.opcodes = ("ok",), [_opcodes(a, b)]
        return mk
    if cat == "long_strings":
        n = rng.choice([1000, 100_000, 1_000_000])
        a = ["x" * n, _token(rng)]
        b = [_token(rng), "x" * n, "y" * rng.randint(0, n)]
        mk.op, mk.body, mk.accept, mk.opcodes = "diff", _diff_body(rng, a, b), ("ok",), [_opcodes(a, b)]
        return mk
    mk.op = "diff" if rng.random() < 0.85 else "echo"
    if mk.op == "echo":  # every body is a good echo
        mk.body = _bad_diff_body(rng, cat)[0]
        mk.echo, mk.accept = True, ("ok",)
        return mk
    mk.body, mk.accept, mk.opcodes = _bad_diff_body(rng, cat)
    return mk


def _bad_diff_body(rng: random.Random, cat: str) -> tuple[bytes, tuple[str, ...], list[list[list[Any]]] | None]:
    """A diff body of category `cat`, the acceptable outcomes, and the opcodes of an ok."""
    bad: tuple[str, ...] = ("bad_request",)
    if cat == "random_bytes":
        data = rng.randbytes(rng.randint(0, 300))
        if rng.random() < 0.3:  # random bytes inside an otherwise good request
            data = b'{"a": ["' + data.replace(b'"', b'').replace(b'\\', b'') + b'"], "b": []}'
        return (data, *_judge(data))
    if cat == "truncated_json":
        a, b = _tokens(rng, 10), _tokens(rng, 10)
        full = _diff_body(rng, a, b)
        return full[:rng.randrange(len(full))], bad, None
    if cat == "deep_nesting":
        depth = rng.choice([100, 1000, 10_000, 100_000])
        opener, closer = rng.choice([("[", "]"), ('{"k":', "}")])
        nested = opener * depth + "1" + closer * depth
        where = rng.randrange(4)
        if where == 0:
            return nested.encode(), bad, None
        if where == 1:
            return ('{"a": ' + nested + ', "b": []}').encode(), bad, None
        if where == 2:  # in an ignored key: a parser may accept it (ok) or refuse its depth
            return ('{"a": ["p"], "b": ["q"], "x": ' + nested + "}").encode(), ("ok", "bad_request"), \
                [_opcodes(["p"], ["q"])]
        return (opener * depth).encode(), bad, None  # unterminated
    if cat == "wrong_types":
        good = ["t"]
        wrong: list[Any] = [None, 1, 1.5, True, "str", {"k": "v"}, [1], [None], [["x"]], [{"a": 1}], ["x", 2]]
        a = rng.choice(wrong + [good])
        b = rng.choice(wrong)
        if rng.random() < 0.5:
            a, b = b, a
        shape = rng.randrange(4)
        if shape == 0:
            doc: Any = {"a": a, "b": b}
        elif shape == 1:
            doc = {"a": a} if rng.random() < 0.5 else {"b": b}
        elif shape == 2:
            doc = rng.choice([[], [1, 2], "text", 42, None, True])
        else:
            doc = {"A": ["x"], "B": ["y"]}
        return json.dumps(doc).encode(), bad, None
    if cat == "huge_numbers":
        num = rng.choice(["1e400", "-1e400", "1" * rng.choice([20, 500, 10_000]), "1e-400",
                          "123456789012345678901234567890.5e99999"])
        if rng.random() < 0.5:  # in a token list: wrong type
            return ('{"a": [' + num + '], "b": []}').encode(), bad, None
        return ('{"a": ["m"], "b": ["n"], "x": ' + num + "}").encode(), ("ok", "bad_request"), [_opcodes(["m"], ["n"])]
    if cat == "invalid_utf8":
        junk = rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf8\x88\x80\x80\x80", b"\xe2\x82",
                           b"\xf4\x90\x80\x80"])
        pos = rng.randrange(3)
        if pos == 0:
            return b'{"a": ["' + junk + b'"], "b": []}', bad, None
        if pos == 1:
            return b'{"a": [], "b": [], "x": "' + junk + b'"}', bad, None
        return junk + b'{"a": [], "b": []}', bad, None
    if cat == "surrogates":
        esc = rng.choice(["\\ud800", "\\udfff", "\\udc00\\ud800", "\\ud83d", "\\ude00x", "\\ud800\\u0041"])
        if rng.random() < 0.2:  # a correct pair is fine
            return b'{"a": ["\\ud83d\\ude00"], "b": ["\\ud83d\\ude00"]}', ("ok",), [[["equal", 0, 1, 0, 1]]]
        return ('{"a": ["ok", "' + esc + '"], "b": ["ok"]}').encode(), bad, None
    if cat == "control_chars":
        ctl = chr(rng.choice([0, 1, 8, 10, 13, 27, 31, 127]))
        if rng.random() < 0.5:  # escaped: valid JSON
            a = ["a" + ctl + "b", ctl]
            return json.dumps({"a": a, "b": [ctl]}).encode(), ("ok",), [_opcodes(a, [ctl])]
        if ctl == "\x7f":
            return ('{"a": ["' + ctl + '"], "b": []}').encode(), ("ok",), [_opcodes([ctl], [])]
        return ('{"a": ["' + ctl + '"], "b": []}').encode(), bad, None  # raw control char in a string
    if cat == "duplicate_keys":
        a1, a2, b1 = _tokens(rng, 5), _tokens(rng, 5), _tokens(rng, 5)
        body = ('{"a": ' + json.dumps(a1) + ', "b": ' + json.dumps(b1) + ', "a": ' + json.dumps(a2) + "}").encode()
        return body, ("ok", "bad_request"), [_opcodes(a1, b1), _opcodes(a2, b1)]
    raise ValueError(f"unknown op category {cat}")


def _judge(data: bytes) -> tuple[tuple[str, ...], list[list[list[Any]]] | None]:
    """What a diff of arbitrary bytes must get, by the contract's order of checks."""
    bad: tuple[str, ...] = ("bad_request",)

    def no_constants(name: str) -> Any:
        raise ValueError(name)

    try:
        doc = json.loads(data.decode("utf-8"), parse_constant=no_constants)
    except (ValueError, RecursionError):
        return bad, None
    if not isinstance(doc, dict):
        return bad, None
    a, b = doc.get("a"), doc.get("b")
    if not (isinstance(a, list) and isinstance(b, list) and all(isinstance(t, str) for t in a + b)):
        return bad, None
    try:
        for t in a + b:
            t.encode("utf-8")
    except UnicodeEncodeError:
        return bad, None
    return ("ok", "bad_request"), [_opcodes(a, b)]  # random bytes that parse: keys may repeat


# -- transport-level ------------------------------------------------------------------------

def _http(rng: random.Random, index: int, cat: str) -> Input:
    kind = "http_stall" if cat == "http_stall" else "http_raw"
    if cat == "http_garbage":
        data = rng.randbytes(rng.randint(1, 2000))
        if rng.random() < 0.3:
            data += b"\r\n\r\n"
    elif cat == "http_bad_request_line":
        data = rng.choice([b"POST\r\n\r\n", b"POST /echo\r\n\r\n", b"POST /echo HTTP/9.9\r\n\r\n",
                           b"POST  /echo  HTTP/1.1\r\n\r\n", b"\x00\x01 / HTTP/1.1\r\n\r\n",
                           b"POST /echo HTTP/1.1 extra\r\n\r\n", b"P\xffST /echo HTTP/1.1\r\n\r\n",
                           b"POST " + b"/" * 70000 + b" HTTP/1.1\r\n\r\n", b"GET /%zz HTTP/1.1\r\n\r\n",
                           b"GET http://[::1 HTTP/1.1\r\n\r\n", b"\r\n\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n",
                           b"BREW /diff HTTP/1.1\r\nHost: x\r\n\r\n"])
    elif cat == "http_huge_headers":
        n = rng.choice([100, 5000, 100_000])
        if rng.random() < 0.5:
            extra = b"".join(b"X-H%d: v\r\n" % i for i in range(n))
        else:
            extra = b"X-Big: " + b"v" * (n * 10) + b"\r\n"
        data = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n" + extra + b"\r\nhi"
    elif cat == "http_cl_and_te":
        data = rng.choice([
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n0\r\n\r\n",
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n"
            b"0\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n",
            b"POST /diff HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\nhello",
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\nContent-Length: 3\r\n\r\nabc",
        ])
    elif cat == "http_bad_chunked":
        data = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + rng.choice([
            b"zz\r\nhello\r\n0\r\n\r\n", b"5\r\nhelloXX0\r\n\r\n", b"-1\r\n\r\n", b"ffffffffffffffffff\r\nab\r\n",
            b"5\r\nhel", b"3;ext=\xff\r\nabc\r\n0\r\n\r\n", b"\r\n\r\n", b"0\r\nTrailer\xff: x\r\n\r\n"])
    elif cat == "http_bad_content_length":
        cl = rng.choice([b"-1", b"abc", b"1e3", b"99999999999999999999999", b"18446744073709551616", b" 5 5",
                         b"0x10", b"", b"+5", b"16777217", b"5000"])
        data = b"POST /" + rng.choice([b"echo", b"diff"]) + b" HTTP/1.1\r\nHost: x\r\nContent-Length: " + cl + \
            b"\r\n\r\nhello"
    elif cat == "http_09":
        data = rng.choice([b"GET /health\r\n", b"GET /\r\n", b"POST /echo\r\nbody\r\n", b"GET /health HTTP/0.9\r\n\r\n",
                           b"GET /health HTTP/1.0\r\n\r\n"])
    elif cat == "http_pipelined_junk":
        good = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        data = good * rng.randint(1, 3) + rng.randbytes(rng.randint(1, 200)) + b"\r\n\r\n"
    else:  # http_stall: half a request; the server must keep serving others meanwhile
        full = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"x" * 100
        data = full[:rng.randint(1, len(full) - 1)]
    return Input(index=index, category=cat, kind=kind, body=data)


ZMTP_SIGNATURE = b"\xff" + b"\x00" * 8 + b"\x7f"


def zmtp_greeting(major: int = 3, minor: int = 0, mechanism: bytes = b"NULL",
                  signature: bytes = ZMTP_SIGNATURE) -> bytes:
    """A 64-byte ZMTP 3.x greeting (client side)."""
    return signature + bytes([major, minor]) + mechanism.ljust(20, b"\x00")[:20] + b"\x00" + b"\x00" * 31


def zmtp_ready(socket_type: bytes = b"DEALER") -> bytes:
    """A NULL-mechanism READY command frame."""
    prop = bytes([len(b"Socket-Type")]) + b"Socket-Type" + struct.pack(">I", len(socket_type)) + socket_type
    body = b"\x05READY" + prop
    return bytes([0x04, len(body)]) + body


def _zmq(rng: random.Random, index: int, cat: str) -> Input:
    if cat.startswith("zmq_"):
        mk = Input(index=index, category=cat, kind="zmq_frames")
        if cat == "zmq_frame_count":
            n = rng.choice([0, 1, 3, 4, 5, 6])
            first = rng.choice([b"echo", b"diff", b"health"])
            mk.frames = [first, *(rng.randbytes(rng.randint(0, 40)) for _ in range(n - 1))][:n]
            mk.accept = ("bad_request",)
        elif cat == "zmq_empty_frames":
            n = rng.choice([1, 2, 2, 3])
            mk.frames = [b""] * n
            mk.accept = ("unknown_op",) if n == 2 else ("bad_request",)
        elif cat == "zmq_huge_frames":
            size = rng.choice([1 << 20, 3 << 20, 5 << 20])
            if rng.random() < 0.5:
                mk.frames, mk.echo, mk.accept = [b"echo", rng.randbytes(64) * (size // 64)], True, ("ok",)
            else:
                mk.frames, mk.accept = [b"x" * size, b"body"], ("unknown_op",)
        else:  # zmq_random_op
            op = rng.randbytes(rng.randint(1, 30))
            if op in (b"echo", b"diff", b"health"):
                op += b"!"
            mk.frames, mk.accept = [op, b"{}"], ("unknown_op",)
        return mk
    kind = "zmtp_stall" if cat == "zmtp_truncated_stall" else "zmtp_raw"
    if cat == "zmtp_bad_signature":
        data = rng.choice([rng.randbytes(10), b"\x00" * 10, b"\xff" + b"\x00" * 8 + b"\x00"]) + rng.randbytes(54)
    elif cat == "zmtp_version_2":
        data = ZMTP_SIGNATURE + bytes([rng.choice([1, 2]), 0]) + rng.randbytes(rng.randint(0, 60))
    elif cat == "zmtp_unknown_mechanism":
        data = zmtp_greeting(mechanism=rng.choice([b"CURVE", b"PLAIN", b"GSSAPI", b"\xff\xfe", b"null"]))
    elif cat == "zmtp_truncated_stall":
        data = zmtp_greeting()[:rng.randint(1, 63)]
    elif cat == "zmtp_garbage_after_greeting":
        data = zmtp_greeting() + rng.randbytes(rng.randint(1, 500))
    else:  # zmtp_impossible_length: a long frame of 2^63-1 bytes, or a command longer than it says
        data = zmtp_greeting() + zmtp_ready() + rng.choice([
            b"\x02" + struct.pack(">Q", (1 << 63) - 1) + b"abc",
            b"\x03" + struct.pack(">Q", 1 << 62) + b"abc",
            b"\x06" + struct.pack(">Q", 1 << 40),
            b"\x00\xff" + b"short",
            b"\x04\x01",
        ])
    return Input(index=index, category=cat, kind=kind, body=data)


def _redis(rng: random.Random, index: int, cat: str) -> Input:
    if cat == "redis_huge_body":
        body = rng.randbytes(1024) * rng.choice([1024, 3072, 8192])
        return Input(index=index, category=cat, kind="op", op="echo", body=body, echo=True, accept=("ok",))
    choice = rng.randrange(8)
    if choice == 0:
        msg = rng.randbytes(rng.randint(0, 200)).replace(b"\n", b"")
    elif choice == 1:
        msg = b"echo only-two\n" + rng.randbytes(10)
    elif choice == 2:
        msg = b"echo a b c d\nbody"
    elif choice == 3:
        msg = b"echo  1 key\nbody"
    elif choice == 4:
        msg = b"\xff\xfe 1 key\nbody"
    elif choice == 5:
        msg = b"x" * rng.randint(1025, 5000) + b"\n"
    elif choice == 6:
        msg = b"echo 1 k\xc3\xa9y\nbody"
    else:
        msg = b"\n" + rng.randbytes(20)
    return Input(index=index, category=cat, kind="redis_raw", body=msg, accept=("dead",))


H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# An Echo request's field block: :method POST, :scheme http (static 3, 6), :path and content-type
# as literals without indexing, te: trailers with a literal name.
H2_ECHO_BLOCK = (b"\x83\x86\x04\x14/bench.v1.Bench/Echo\x0f\x10\x10application/grpc"
                 b"\x00\x02te\x08trailers")


def h2_frame(ftype: int, flags: int, sid: int, payload: bytes, length: int | None = None) -> bytes:
    """An HTTP/2 frame; `length` overrides the length field (a frame that lies about its size)."""
    n = len(payload) if length is None else length
    return struct.pack(">I", n)[1:] + bytes([ftype, flags]) + struct.pack(">I", sid & 0x7FFFFFFF) + payload


def _h2_malformed(rng: random.Random) -> bytes:
    """After the client preface and SETTINGS: frames RFC 9113 / RFC 7541 say are errors."""
    shape = rng.randrange(10)
    if shape == 0:  # a fixed-size frame with the wrong length: SETTINGS, PING, RST_STREAM, WINDOW_UPDATE, PRIORITY
        ftype, good = rng.choice([(4, 6), (6, 8), (3, 4), (8, 4), (2, 5)])
        n = rng.choice([k for k in range(0, 13) if k != good and not (ftype == 4 and k % 6 == 0)])
        bad = h2_frame(ftype, 0, 0 if ftype in (4, 6) else 1, rng.randbytes(n))
    elif shape == 1:  # a field block that is not HPACK
        bad = h2_frame(1, 0x05, 1, rng.randbytes(rng.randint(1, 60)))
    elif shape == 2:  # frames that must not be on stream 0
        bad = h2_frame(rng.choice([0, 1, 2, 3, 9]), 0x04, 0, rng.randbytes(rng.choice([0, 4, 5, 8])))
    elif shape == 3:  # CONTINUATION without HEADERS, or after HEADERS of another stream
        bad = (h2_frame(1, 0, 3, H2_ECHO_BLOCK) if rng.random() < 0.5 else b"") + h2_frame(9, 0x04, 1, H2_ECHO_BLOCK)
    elif shape == 4:  # WINDOW_UPDATE of 0, on the connection or on an open stream
        sid = rng.choice([0, 1])
        bad = (h2_frame(1, 0x04, 1, H2_ECHO_BLOCK) if sid else b"") + h2_frame(8, 0, sid, b"\x00\x00\x00\x00")
    elif shape == 5:  # windows past 2^31-1
        sid = rng.choice([0, 1])
        bad = (h2_frame(1, 0x04, 1, H2_ECHO_BLOCK) if sid else b"") + h2_frame(8, 0, sid, b"\x7f\xff\xff\xff") * 2
    elif shape == 6:  # over the default SETTINGS_MAX_FRAME_SIZE (16 384)
        n = rng.choice([16385, 20000, 70000])
        bad = h2_frame(1, 0x04, 1, H2_ECHO_BLOCK) + h2_frame(rng.choice([0, 1]), 0, 1, rng.randbytes(n))
    elif shape == 7:  # DATA on a stream the client has ended, or never opened
        bad = h2_frame(1, 0x05, 1, H2_ECHO_BLOCK) + h2_frame(0, 0x01, rng.choice([1, 3, 2]), b"\x00\x00\x00\x00\x00")
    elif shape == 8:  # a frame announcing more than it carries, then EOF
        bad = h2_frame(rng.choice([0, 1, 4, 6]), 0, 1, rng.randbytes(rng.randint(0, 20)), length=rng.randint(21, 16384))
    else:  # random bytes
        bad = rng.randbytes(rng.randint(1, 300))
    settings = h2_frame(4, 0, 0, b"") if shape != 9 or rng.random() < 0.5 else b""
    return H2_PREFACE + settings + bad


def _grpc(rng: random.Random, index: int, cat: str) -> Input:
    if cat == "h2_malformed":
        return Input(index=index, category=cat, kind="h2_raw", body=_h2_malformed(rng))
    if cat == "grpc_unknown_method":
        name = rng.choice(["Health", "echo", "diff", "Foo", "", "E" * 300, "Echo2", "Diff/Extra"])
        return Input(index=index, category=cat, kind="grpc_raw", op=name, body=rng.randbytes(10),
                     accept=("unknown_op",))
    if cat == "grpc_raw_echo":
        return Input(index=index, category=cat, kind="grpc_raw", op="Echo", body=rng.randbytes(rng.randint(0, 200)))
    if cat == "grpc_raw_diff":
        return Input(index=index, category=cat, kind="grpc_raw", op="Diff", body=rng.randbytes(rng.randint(0, 200)))
    if cat == "grpc_bad_utf8":
        junk = rng.choice([b"\xff", b"\xed\xa0\x80", b"\xc0\xaf", b"ok\xc3"])
        body = b"\x0a\x01x" + b"\x0a" + bytes([len(junk)]) + junk + b"\x12\x01y"
        return Input(index=index, category=cat, kind="grpc_raw", op="Diff", body=body)
    # wrong wire types: field 1 as a varint / fixed64 / a length past the end
    body = rng.choice([b"\x08\x01", b"\x09" + b"\x00" * 8, b"\x0a\x7fshort", b"\x0d\x00\x00\x00\x00",
                       b"\x0b\x0c", b"\x12\xff\xff\xff\xff\x0f"])
    return Input(index=index, category=cat, kind="grpc_raw", op=rng.choice(["Echo", "Diff"]), body=body)


def _celery(rng: random.Random, index: int, cat: str) -> Input:
    mk = Input(index=index, category=cat, kind="celery_task")
    if cat == "celery_unknown_task":
        mk.method = "bench." + rng.choice(["nope", "Echo", "diff2", "", "health2", "ß", unknown_op_name(rng)[:40]])
        if mk.method in ("bench.echo", "bench.diff", "bench.health"):
            mk.method += "_x"
        mk.accept = ("unknown_op",)
    elif cat == "celery_wrong_arg_count":
        mk.method = rng.choice(["bench.echo", "bench.diff"])
        want = 1 if mk.method == "bench.echo" else 2
        n = rng.choice([c for c in range(5) if c != want])
        mk.args = [["x"] if mk.method == "bench.diff" else "x" for _ in range(n)]
        mk.accept = ("failure",)
    elif cat == "celery_wrong_types":
        wrong: list[Any] = [None, 1, 2.5, True, {"k": "v"}, [1], ["x", None], [["x"]]]
        if rng.random() < 0.5:
            mk.method, mk.args = "bench.echo", [rng.choice(wrong + [["x"]])]
        else:
            a, b = rng.choice(wrong), rng.choice(wrong + [["ok"]])
            mk.method, mk.args = "bench.diff", [a, b] if rng.random() < 0.5 else [b, a]
        mk.accept = ("bad_request",)
    else:  # celery_bad_text: texts with lone surrogates cannot be UTF-8
        mk.method = rng.choice(["bench.echo", "bench.diff"])
        s = "x" + rng.choice(["\ud800", "\udfff", "\udc00\ud800"])
        mk.args = [s] if mk.method == "bench.echo" else [[s], ["y"]]
        # diff tokens with a lone surrogate are bad_request; the contract does not say whether
        # echo's text may hold one, so echoing it back unchanged is accepted too.
        mk.accept = ("bad_request", "ok") if mk.method == "bench.echo" else ("bad_request",)
    return mk


_TRANSPORT_GEN = {"http": _http, "zmq": _zmq, "redis": _redis, "grpc": _grpc, "celery": _celery}

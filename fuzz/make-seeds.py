#!/usr/bin/env python3
"""Writes the seed corpus in fuzz/corpus/<target>/: the ircdocs parser vectors
(shared/parser-tests/msg-split.yaml, beside the repository), real IRC sessions and
hostile edge cases. Run it again after changing an input layout in fuzz_targets/.

Usage: fuzz/make-seeds.py [PARSER_TESTS_DIR]   (needs PyYAML)
"""

import hashlib
import os
import shutil
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = (
    sys.argv[1]
    if len(sys.argv) > 1
    else os.path.join(HERE, "..", "..", "shared", "parser-tests")
)


def write(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def reset(target):
    shutil.rmtree(os.path.join(HERE, "corpus", target), ignore_errors=True)


# --- parse: one line each -------------------------------------------------------------
reset("parse")
with open(os.path.join(VECTORS, "msg-split.yaml"), encoding="utf-8") as f:
    split = yaml.safe_load(f)["tests"]
for i, case in enumerate(split):
    write("parse", f"ircdocs-split-{i:02}", case["input"])

PARSE_EDGES = {
    "empty": b"",
    "spaces": b"     ",
    "only-source": b":only.a.prefix",
    "only-tags": b"@a=b",
    "tags-and-source": b"@a=b :src",
    "nul": b"PRIVMSG a\0b :x",
    "crlf": b"PING x\r\n",
    "bare-lf": b"PING x\n",
    "cr-inside": b"PRIVMSG #c :a\rb",
    "leading-spaces": b"  privmsg   #c   :hi there",
    "empty-tags-then-at": b"@ @x",
    "escapes": b"@a=\\\\\\:\\s\\r\\n\\x\\ CMD",
    "duplicate-and-empty-keys": b"@a=1;a=2;=x;;b CMD p",
    "empty-source": b": CMD",
    "colon-source": b"::x CMD :",
    "many-params": b"CMD a b c d e f g h i j k l m n o p q r s t :last one",
    "invalid-utf8": b"\xff\xfe NICK \xc3",
    "only-colons": b"CMD :::",
    "client-tags": b"@+draft/reply=abc;msgid=xyz;time=2024-01-01T00:00:00.000Z "
    b":nick!user@host PRIVMSG #chan :hi there",
    "trailing-spaces": b"CMD    :trailing   spaces   ",
    "numeric": b":irc.example.com 001 nick :Welcome to the network nick!user@host",
    "long-tags": b"@" + b"k=" + b"v" * 8000 + b" PING x",
    "long-body": b"PRIVMSG #c :" + b"x" * 600,
}
for name, data in PARSE_EDGES.items():
    write("parse", name, data)

# --- lines: [mode][limits?][cuts][payload] ------------------------------------------------


def lines_seed(payload, cuts=(), small=None, repeat=0):
    """cuts: bytes as lines.rs reads them (0x80 | n: n bytes before the end, else
    n/128 of the way); small: (max_line, max_tags, max_unterminated); repeat: index
    into [1, 1, 2, 4, 8, 16, 32, 64]."""
    mode = (2 if small else 0) | (len(cuts) << 2) | (repeat << 5)
    head = bytes([mode]) + (bytes(small) if small else b"") + bytes(cuts)
    return head + payload


reset("lines")
SESSION = (
    b"CAP LS 302\r\nNICK alice\r\nUSER a 0 * :Alice\r\nCAP REQ :message-tags\r\n"
    b"CAP END\r\nJOIN #lobby\r\nPRIVMSG #lobby :hello everyone\r\nQUIT :bye\r\n"
)
LINES = {
    "session": lines_seed(SESSION),
    "session-cut": lines_seed(SESSION, cuts=(5, 6, 40, 0x81)),
    "bare-lf": lines_seed(b"NICK a\nUSER a 0 * :A\nPI"),
    "cr-then-lf": lines_seed(b"PING x\r\nPING y\r\n", cuts=(56,)),
    "empty-lines": lines_seed(b"\r\n\n\r\n\r\r\n"),
    "max-body": lines_seed(b"a" * 510 + b"\r\n"),
    "max-body-cr-split": lines_seed(b"a" * 510 + b"\r\n", cuts=(0x81,)),
    "over-body": lines_seed(b"a" * 511 + b"\r\nPING ok\r\n"),
    "tags-max": lines_seed(b"@" + b"t" * 8189 + b" " + b"a" * 510 + b"\r\n", cuts=(64, 0x81)),
    "tags-over": lines_seed(b"@" + b"t" * 8190 + b" PING x\r\n"),
    "tags-no-space": lines_seed(b"@" + b"t" * 300 + b"\r\n"),
    "flood-no-newline": lines_seed(b"x" * 1000, repeat=5),
    "flood-tags": lines_seed(b"@" + b"x" * 500, repeat=6),
    "flood-then-line": lines_seed(b"x" * 700 + b"\r\nPING ok\r\n" + b"y" * 100, repeat=7),
    "nul-and-high": lines_seed(b"PRIVMSG #c :\x00\xff\xfe\r\n\x00\n"),
    "http": lines_seed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    "tls-hello": lines_seed(bytes.fromhex("160301020001000200030302") + b"\x00" * 40),
    "small-exact": lines_seed(b"abcd\r\nefgh\r\n", small=(6, 4, 8)),
    "small-cr-split": lines_seed(b"abcd\r\n", cuts=(0x81,), small=(6, 4, 8)),
    "small-tags": lines_seed(b"@ab cd\r\n@abc d\r\n", small=(4, 4, 8)),
    "small-zero": lines_seed(b"\n\r\nx\n@\n", small=(0, 0, 0)),
    "small-flood": lines_seed(b"xyz", small=(5, 3, 10), repeat=6),
    "small-many-cuts": lines_seed(
        b"@a b\r\nc\r\n@\r\n d\r\n", cuts=(1, 15, 30, 45, 60, 0x83, 0x81), small=(8, 4, 16)
    ),
    "crlf-crlf-cr": lines_seed(b"\r\r\n\r\r\r\n", cuts=(0x82, 0x85)),
}
for name, data in LINES.items():
    write("lines", name, data)

# --- commands: [flags][lines, each led by a client byte] --------------------------------
REGISTER, CAPS, JOIN, OPER, ACCOUNT, SETTLE = 0x04, 0x08, 0x10, 0x20, 0x40, 0x80


def commands_seed(clients, flags, *lines):
    head = bytes([(clients - 1) | flags])
    body = b"\n".join(l.encode() if isinstance(l, str) else l for l in lines)
    return head + body


reset("commands")
COMMANDS = {
    "register-by-hand": commands_seed(
        1, 0, "0CAP LS 302", "0NICK alice", "0USER a 0 * :Alice", "0CAP REQ :server-time",
        "0CAP END", "0JOIN #lobby", "0PRIVMSG #lobby :hello",
    ),
    "two-talk": commands_seed(
        2, REGISTER | JOIN, "0PRIVMSG #fuzz :hi bob", "1PRIVMSG #fuzz :hi", "1PRIVMSG f0 :dm",
        "0NOTICE f1 :notice", "1AWAY :gone", "0PRIVMSG f1 :are you there",
    ),
    "channel-modes": commands_seed(
        3, REGISTER | JOIN, "0MODE #fuzz +ntmilk 5 key", "1JOIN #fuzz", "1JOIN #fuzz key",
        "0MODE #fuzz +o f1", "0MODE #fuzz +v-o f2 f1", "0MODE #fuzz +b *!*@*", "0MODE #fuzz b",
        "0MODE #fuzz -b *!*@*", "0INVITE f2 #fuzz", "0KICK #fuzz f2 :out", "0TOPIC #fuzz :new topic",
        "2TOPIC #fuzz", "0MODE #fuzz", "0MODE f0 +i",
    ),
    "caps-tags": commands_seed(
        2, CAPS | JOIN, "0@+draft/reply=x;label=1 PRIVMSG #fuzz :tagged",
        "1@label=abc TAGMSG #fuzz", "0@+typing=active TAGMSG f1", "1CAP LIST", "1CAP REQ :-echo-message",
    ),
    "history": commands_seed(
        2, REGISTER | JOIN | SETTLE, "0PRIVMSG #fuzz :one", "0PRIVMSG #fuzz :two",
        b"\x80HISTORY #fuzz 10", b"\x80HISTORY #fuzz 1h", "1HISTORY f0",
    ),
    "chathistory": commands_seed(
        2, CAPS | JOIN | SETTLE, "0PRIVMSG #fuzz :one", b"\x81CHATHISTORY LATEST #fuzz * 10",
        "1CHATHISTORY BEFORE #fuzz timestamp=2030-01-01T00:00:00.000Z 5",
        "1CHATHISTORY AFTER #fuzz msgid=nope 5", "1CHATHISTORY AROUND #fuzz timestamp=2000-01-01T00:00:00Z 3",
        "1CHATHISTORY BETWEEN #fuzz timestamp=2000-01-01T00:00:00Z timestamp=2100-01-01T00:00:00Z 9",
        "1CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00Z timestamp=2100-01-01T00:00:00Z 5",
    ),
    "accounts": commands_seed(
        2, REGISTER | SETTLE, "0REGISTER * * secret-pass", b"\x80LOGIN f0 secret-pass",
        "1LOGIN f0 wrong", "0LOGOUT", "1PRIVMSG NickServ :IDENTIFY f0 secret-pass",
        "1PRIVMSG NickServ :REGISTER pw x@y", b"\x80PRIVMSG f0 :queued?",
    ),
    "sasl": commands_seed(
        1, 0, "0CAP LS 302", "0CAP REQ :sasl", "0AUTHENTICATE PLAIN", "0AUTHENTICATE AGYwAHB3MC1zZWNyZXQ=",
        "0AUTHENTICATE *", "0AUTHENTICATE +", "0NICK s", "0USER s 0 * :s", "0CAP END",
    ),
    "pass-before": commands_seed(1, 0, "0PASS f0:pw0-secret", "0NICK f0", "0USER u 0 * :u"),
    "account-preamble": commands_seed(2, REGISTER | ACCOUNT | JOIN | SETTLE, b"\x80WHOIS f0", "1WHO #fuzz"),
    "oper": commands_seed(
        2, REGISTER | OPER, "0KILL f1 :bye", "0WALLOPS :hello opers", "1OPER fuzzoper wrong",
        "1KILL f0 :no",
    ),
    "queries": commands_seed(
        2, REGISTER | JOIN, "0WHO #fuzz", "0WHO f1", "0WHOIS f1", "0WHOIS nobody", "0ISON f1 f0 x",
        "0USERHOST f0 f1", "0LUSERS", "0MOTD", "0VERSION", "0TIME", "0NAMES #fuzz", "0NAMES",
        "0LIST", "0LIST #fuzz", "0PING :tok", "0PONG :tok",
    ),
    "nick-changes": commands_seed(
        2, REGISTER, "0NICK F1", "0NICK f-0", "0NICK {0}", "1NICK F0", "0NICK " + "n" * 40, "0NICK",
        "1NICK :", "0NICK 0abc",
    ),
    "targets": commands_seed(
        2, REGISTER | JOIN, "0PRIVMSG #fuzz,f1,#nope,nobody,f0,#fuzz :many", "0JOIN " + ",".join(f"#c{i}" for i in range(30)),
        "0PART #c1,#c2,#nope :bye", "0JOIN 0", "1JOIN #a,#b key1,key2",
    ),
    "bans": commands_seed(
        3, REGISTER, "0JOIN #fuzz", "0MODE #fuzz +b f1!*@*", "1JOIN #fuzz", "2JOIN #fuzz",
        "0MODE #fuzz +b *!u2@*", "2PRIVMSG #fuzz :banned?", "2NICK other", "0MODE #fuzz +b",
        "0MODE #fuzz -b f1!*@*", "1JOIN #fuzz",
    ),
    "part-rejoin": commands_seed(
        2, REGISTER | JOIN, "0PART #fuzz", "1PART #fuzz :leaving", "0JOIN #fuzz", "1JOIN #FUZZ",
        "0KICK #fuzz f1", "1QUIT :early", "0PRIVMSG f1 :gone",
    ),
    "hostile": commands_seed(
        1, 0, "0", "0   ", "0:only.a.prefix", b"0\x00\x00", b"0\xff\xfe NICK", "0PRIVMSG",
        "0MODE", "0JOIN ,,,,", "0@a=b;c TAGMSG", "0GET / HTTP/1.1",
    ),
    "unregistered": commands_seed(
        2, 0, "0JOIN #x", "0PRIVMSG #x :hi", "0USER a", "0NICK a", "1NICK a", "1USER b 0 * :b",
        "0USER a 0 * :a",
    ),
    "partial-lines": commands_seed(2, REGISTER, b"\x40PRIV", b"\x40MSG f1 :spl", "0it", b"\x41JOIN", "1 #p"),
    "control-chars": commands_seed(
        1, REGISTER, b"0JOIN #a\x07b", b"0JOIN #\x01", b"0PRIVMSG f0 :\x01ACTION waves\x01",
        b"0NICK a\x02", b"0TOPIC #a\x07b :\x03colour",
    ),
    "long-lines": commands_seed(
        2, REGISTER | JOIN, "0PRIVMSG #fuzz :" + "x" * 500, "1@" + "t=" + "v" * 3000 + " TAGMSG #fuzz",
        "0TOPIC #fuzz :" + "t" * 450, "0AWAY :" + "a" * 450,
    ),
    "client-tags-8k": commands_seed(
        2, CAPS | JOIN, "0@+a=" + "v" * 4100 + " PRIVMSG #fuzz :over",
        "1@+b=" + "w" * 7000 + " TAGMSG #fuzz", "0@+c=" + "v" * 4080 + " PRIVMSG f1 :fits",
        "1@+d=" + "x" * 4000 + ";+e=" + "y" * 4000 + " NOTICE #fuzz :two halves",
    ),
    "labeled-batch": commands_seed(
        1, CAPS | JOIN | SETTLE, "0@label=L1 PRIVMSG #fuzz :x", "0@label=L2 WHO #fuzz",
        b"\x80@label=L3 CHATHISTORY LATEST #fuzz * 5", "0@label=L4 PING x",
    ),
    "casemap-collide": commands_seed(
        3, 0, "0NICK Alice", "0USER a 0 * :a", "1NICK ALICE", "1NICK alice", "2NICK [x]",
        "2NICK {x}", "2USER c 0 * :c",
    ),
    "four-clients": commands_seed(
        4, CAPS | JOIN, "0PRIVMSG #fuzz :all", "1AWAY :x", "2JOIN #two", "3JOIN #two",
        "2PRIVMSG #two :pair", "3MODE #two +s", "1NAMES #two", "3QUIT",
    ),
    "everything": commands_seed(
        4, REGISTER | CAPS | JOIN | OPER | ACCOUNT | SETTLE, "0PRIVMSG #fuzz :hi", "3WHOIS f0"),
}
for name, data in COMMANDS.items():
    write("commands", name, data)

for target in ("parse", "lines", "commands"):
    n = len(os.listdir(os.path.join(HERE, "corpus", target)))
    print(f"corpus/{target}: {n} seeds")

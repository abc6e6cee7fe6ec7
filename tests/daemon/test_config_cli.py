#!/usr/bin/python3
"""eddy black-box: configuration errors (FILE:LINE: message, all of them),
-t, and the command line (-V, -h, -l, -r, no -c, exit codes)."""
import os
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eddytest import *  # noqa: E402,F401,F403

suite = Suite()
WWW = suite.path("www")
write_file(os.path.join(WWW, "hello.txt"), b"hello from -r\n")
write_file(os.path.join(WWW, "index.html"), b"<p>r index</p>\n")

# Config templates.  A line ending in "  #E:group:hint1|hint2" is an error:
# the daemon must report at least one line of each group, with a message
# naming one of the hints.  "  #O" marks a line that may be reported or not
# (keys of a duplicated route).  Markers are stripped before writing.
HEALTH = """[route /health]
type = return
status = 200
body = ok
"""
CASES = {
    "unknown section": """[server]
listen = 127.0.0.1:{port}
[bogus]  #E:sec:bogus
""" + HEALTH,
    "unknown key in [server]": """[server]
listen = 127.0.0.1:{port}
colour = blue  #E:key:colour
""" + HEALTH,
    "unknown key in a route": """[server]
listen = 127.0.0.1:{port}
[route /health]
type = return
status = 200
flavour = mint  #E:rkey:flavour
""",
    "bad size 12q": """[server]
listen = 127.0.0.1:{port}
[limits]
header_size = 12q  #E:size:12q|header_size
""" + HEALTH,
    "bad duration 10x": """[server]
listen = 127.0.0.1:{port}
[timeouts]
header = 10x  #E:dur:10x|header
""" + HEALTH,
    "bad duration soon": """[server]
listen = 127.0.0.1:{port}
[timeouts]
keepalive = soon  #E:dur2:soon|keepalive
""" + HEALTH,
    "bad status 1000": """[server]
listen = 127.0.0.1:{port}
[route /health]
type = return
status = 1000  #E:status:1000|status
body = ok
""",
    "bad status abc": """[server]
listen = 127.0.0.1:{port}
[route /old]
type = redirect
status = abc  #E:status2:abc|status
location = /new
""",
    "duplicate route": """[server]
listen = 127.0.0.1:{port}
""" + HEALTH + """[route /health]  #E:dup:/health|duplicate
type = return  #O
status = 201  #O
body = again  #O
""",
    "missing root for static": """[server]
listen = 127.0.0.1:{port}
[route /s/]  #E:root:root
type = static  #E:root:root
index = index.html  #E:root:root
""",
    "bad listen address (port 99999)": """[server]
listen = 127.0.0.1:99999  #E:listen:99999|listen
""" + HEALTH,
    "bad listen address (300.1.1.1)": """[server]
listen = 300.1.1.1:80  #E:listen2:300.1.1.1|listen
""" + HEALTH,
    "unknown route type": """[server]
listen = 127.0.0.1:{port}
[route /t]  #O
type = teleport  #E:type:teleport|type
""",
    "bad boolean": """[server]
listen = 127.0.0.1:{port}
[route /g/]
type = static
root = {www}
precompressed = maybe  #E:bool:maybe|precompressed
""",
    "bad log level": """[server]
listen = 127.0.0.1:{port}
[log]
level = loud  #E:level:loud|level
""" + HEALTH,
    "bad number": """[server]
listen = 127.0.0.1:{port}
max_connections = lots  #E:int:lots|max_connections
""" + HEALTH,
}

# Every error above in one file: all must be reported, not only the first.
ALL = """[server]
listen = 127.0.0.1:{port}
colour = blue  #E:key:colour
max_connections = lots  #E:int:lots|max_connections
listen = 127.0.0.1:99999  #E:listen:99999|listen
listen = 300.1.1.1:80  #E:listen2:300.1.1.1|listen
[timeouts]
header = 10x  #E:dur:10x|header
keepalive = soon  #E:dur2:soon|keepalive
[limits]
header_size = 12q  #E:size:12q|header_size
[log]
level = loud  #E:level:loud|level
[bogus]  #E:sec:bogus
[route /health]
type = return
status = 1000  #E:status:1000|status
flavour = mint  #E:rkey:flavour
body = ok
[route /old]
type = redirect
status = abc  #E:status2:abc|status
location = /new
[route /health]  #E:dup:/health|duplicate
type = return  #O
status = 201  #O
body = again  #O
[route /s/]  #E:root:root
type = static  #E:root:root
index = index.html  #E:root:root
[route /t]  #O
type = teleport  #E:type:teleport|type
[route /g/]
type = static
root = {www}
precompressed = maybe  #E:bool:maybe|precompressed
"""

# A valid config with every key of the spec and every unit suffix.
GOOD = """[server]
listen = 127.0.0.1:{port}
listen = 127.0.0.1:{port2}
max_connections = 10000
server_header = eddy
[timeouts]
header = 500ms
body = 30s
keepalive = 2m
send = 1h
shutdown = 10s
[limits]
header_size = 16k
body_size = 1g
uri_size = 8192
headers = 100
requests_per_connection = 0
[log]
access = {tmp}/access.log
error = stderr
level = info
[route /static/]
type = static
root = {www}
index = index.html
precompressed = on
cache_control = public, max-age=60
follow_symlinks = off
[route = /exact]
type = return
status = 200
body = ok
content_type = text/plain
header = X-Example: 1
header = X-Other: 2
[route /old]
type = redirect
status = 301
location = /new
"""


def write_case(name, template, **subs):
    """Writes template; returns (path, groups {g: (lines, hints)}, optional lines)."""
    groups, optional, out = {}, set(), []
    for n, line in enumerate(template.splitlines(), 1):
        m = re.match(r"^(.*?)\s+#E:(\w+):(\S+)$", line)
        if m:
            lines, _ = groups.setdefault(m.group(2), (set(), m.group(3).split("|")))
            lines.add(n)
            line = m.group(1)
        elif line.endswith("  #O"):
            optional.add(n)
            line = line[:-4]
        out.append(line)
    subs.setdefault("port", free_port())
    subs.setdefault("port2", free_port())
    subs.setdefault("tmp", suite.tmp)
    subs.setdefault("www", WWW)
    path = suite.path(re.sub(r"\W+", "-", name).strip("-") + ".ini")
    with open(path, "w") as f:
        f.write(fill("\n".join(out) + "\n", subs))
    return path, groups, optional


def reported(path, output):
    """{line: message} of every "FILE:LINE: message" in output."""
    found = {}
    for m in re.finditer(r"%s:(\d+): ?(.*)$" % re.escape(path), output, re.M):
        found.setdefault(int(m.group(1)), m.group(2))
    return found


def check_errors(name, template):
    path, groups, optional = write_case(name, template)
    rc, out, err = run_eddy(["-t", "-c", path])
    text = out + err
    eq(rc, 1, "%s: exit code of eddy -t (output: %s)" % (name, text.strip()[:500]))
    found = reported(path, text)
    for g, (lines, hints) in sorted(groups.items()):
        hit = sorted(set(found) & lines)
        ok(hit, "%s: no error reported on line(s) %s; reported %s\noutput:\n%s"
           % (name, sorted(lines), sorted(found), text))
        msgs = " ".join(found[n] for n in hit)
        ok(any(h.lower() in msgs.lower() for h in hints),
           "%s: message for line %s names none of %s: %r" % (name, hit, hints, msgs))
        ok(msgs.strip(), "%s: empty message for line %s" % (name, hit))
    allowed = set().union(*[lines for lines, _ in groups.values()]) | optional
    extra = sorted(set(found) - allowed)
    ok(not extra, "%s: errors reported on valid lines %s:\n%s" % (name, extra, text))
    return found


for _name, _template in CASES.items():
    def _case(name=_name, template=_template):
        check_errors(name, template)
    suite.test("eddy -t: %s is reported as FILE:LINE: message, exit 1" % _name)(_case)


@suite.test("eddy -t: every error of a file with %d errors is reported" % len(CASES))
def _():
    found = check_errors("all errors", ALL)
    ok(len(found) >= len(CASES), "only %d errors reported" % len(found))


@suite.test("eddy -t: a valid config with every key and unit exits 0")
def _():
    path, _, _ = write_case("good", GOOD)
    rc, out, err = run_eddy(["-t", "-c", path])
    eq(rc, 0, "exit code (output: %s)" % (out + err).strip()[:500])
    eq(reported(path, out + err), {}, "errors reported")


@suite.test("eddy -t: conf/eddy.ini from the source tree is valid and documents every key")
def _():
    path = os.path.join(srcdir(), "conf", "eddy.ini")
    if not os.path.exists(path):
        raise Skip("no %s yet" % path)
    rc, out, err = run_eddy(["-t", "-c", path])
    eq(rc, 0, "exit code (output: %s)" % (out + err).strip()[:500])
    with open(path) as f:
        doc = f.read()
    for key in sorted(set(re.findall(r"^(\w+) =", GOOD, re.M))):
        match(r"\b%s\b" % key, doc, "conf/eddy.ini documents %s" % key)


@suite.test("eddy -t without -c checks the embedded default: exit 0")
def _():
    rc, out, err = run_eddy(["-t"])
    eq(rc, 0, "exit code (output: %s)" % (out + err).strip()[:300])


@suite.test("a missing config file: exit 1 and a message naming it (with and without -t)")
def _():
    path = suite.path("does-not-exist.ini")
    for args in (["-t", "-c", path], ["-c", path]):
        rc, out, err = run_eddy(args)
        eq(rc, 1, "exit code of eddy %s" % " ".join(args))
        contains(out + err, path, "output of eddy %s" % " ".join(args))


@suite.test("a config with errors is refused at start-up too: exit 1, errors printed")
def _():
    path, groups, _ = write_case("start-bad", CASES["unknown key in [server]"])
    rc, out, err = run_eddy(["-c", path])
    eq(rc, 1, "exit code")
    ok(reported(path, out + err), "no FILE:LINE error in: " + (out + err)[:300])


@suite.test("-V prints the version and exits 0")
def _():
    rc, out, err = run_eddy(["-V"])
    eq(rc, 0, "exit code")
    match(r"(?i)eddy.*\d+\.\d+", out + err, "-V output")


@suite.test("-h prints a usage naming every option and exits 0")
def _():
    rc, out, err = run_eddy(["-h"])
    eq(rc, 0, "exit code")
    for opt in ("-c", "-t", "-l", "-r", "-V", "-h"):
        contains(out + err, opt, "-h output")


@suite.test("an unknown option: non-zero exit and a message")
def _():
    rc, out, err = run_eddy(["-Z"])
    ne(rc, 0, "exit code")
    ok((out + err).strip(), "no message for -Z")


@suite.test("no -c: the embedded site on the -l port, / welcome page, /health = ok")
def _():
    d = suite.start(None, args=["-l", "127.0.0.1:{port}"], name="default")
    r = d.get("/")
    eq(r.status, 200, "/ status")
    match(r"^text/html", r.h("content-type"), "/ Content-Type")
    match(r"(?i)<html", r.text(), "/ body")
    match(r"(?i)eddy", r.text(), "/ body")
    contains(r.text(), "/health", "/ body (link to /health)")
    r = d.get("/health")
    eq((r.status, r.body.strip()), (200, b"ok"), "/health")
    match(r"^eddy", r.h("server"), "Server header")
    d.stop()
    eq(d.rc, 0, "exit code after SIGTERM")


@suite.test("-l forms: PORT, :PORT, 127.0.0.1:PORT, repeated")
def _():
    d = suite.start(None, args=["-l", "{port}"], name="l-port")
    eq(d.get("/health").status, 200, "-l PORT")
    d.stop()
    d = suite.start(None, args=["-l", ":{port}"], name="l-colon")
    eq(d.get("/health").status, 200, "-l :PORT")
    d.stop()
    d = suite.start(None, args=["-l", "127.0.0.1:{port1}", "-l", "127.0.0.1:{port2}"],
                    ports=2, name="l-two")
    eq(request(d.subs["port1"], "GET", "/health").status, 200, "first -l")
    eq(request(d.subs["port2"], "GET", "/health").status, 200, "second -l")
    d.stop()


@suite.test("-l [::1]:PORT (IPv6)")
def _():
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
    except OSError:
        raise Skip("no IPv6 loopback")
    d = suite.start(None, args=["-l", "[::1]:{port}"], probe="[::1]:{port}", name="l-v6")
    r = request(("::1", d.port), "GET", "/health")
    eq(r.status, 200, "status over IPv6")
    d.stop()


@suite.test("-l unix:/path serves over a Unix socket")
def _():
    sock = suite.path("eddy.sock")
    d = suite.start(None, args=["-l", "unix:" + sock], probe="unix:" + sock, name="l-unix")
    r = request("unix:" + sock, "GET", "/health")
    eq((r.status, r.body.strip()), (200, b"ok"), "response over the Unix socket")
    d.stop()


@suite.test("-l overrides the listen addresses of the config file")
def _():
    conf = "[server]\nlisten = 127.0.0.1:{port1}\n" + HEALTH
    d = suite.start(conf, args=["-l", "127.0.0.1:{port2}"], ports=2, probe="{port2}",
                    name="l-override")
    eq(request(d.subs["port2"], "GET", "/health").status, 200, "the -l port")
    ok(not can_connect(d.subs["port1"]), "the config's port is listening too")
    d.stop()


@suite.test("-r DIR serves DIR as static files at /")
def _():
    d = suite.start(None, args=["-r", WWW, "-l", "127.0.0.1:{port}"], name="r-dir")
    eq(d.get("/hello.txt").body, b"hello from -r\n", "/hello.txt")
    eq(d.get("/").body, b"<p>r index</p>\n", "/ (index.html)")
    eq(d.get("/missing").status, 404, "/missing")
    r = curl_fetch(d.url("/hello.txt"))
    eq((r.rc, r.status, r.body), (0, 200, b"hello from -r\n"), "curl")
    d.stop()


@suite.test("address in use: exit 2 and a message naming the address and why")
def _():
    blocker = socket.socket()
    blocker.bind((HOST, 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    try:
        rc, out, err = run_eddy(["-l", "127.0.0.1:%d" % port])
    finally:
        blocker.close()
    eq(rc, 2, "exit code (output: %s)" % (out + err).strip()[:300])
    contains(out + err, str(port), "message")
    match(r"(?i)in use", out + err, "message")


@suite.test("a Unix socket in a missing directory: exit 2")
def _():
    rc, out, err = run_eddy(["-l", "unix:" + suite.path("no", "such", "dir", "e.sock")])
    eq(rc, 2, "exit code (output: %s)" % (out + err).strip()[:300])
    contains(out + err, "e.sock", "message")


@suite.test("long options: --help, --version, --test --config, --listen, --root")
def _():
    rc, out, err = run_eddy(["--help"])
    eq(rc, 0, "exit code of --help")
    for opt in ("--config", "--test", "--listen", "--root", "--version", "--help"):
        contains(out, opt, "--help output")
    match(r"(?i)exit codes?:.*0.*1 config.*2 usage", " ".join(out.split()), "--help exit codes")
    rc, out, err = run_eddy(["--version"])
    eq(rc, 0, "exit code of --version")
    match(r"(?i)eddy.*\d+\.\d+", out, "--version output")
    path, _, _ = write_case("long-good", GOOD)
    rc, out, err = run_eddy(["--test", "--config", path])
    eq(rc, 0, "exit code of --test --config (output: %s)" % (out + err).strip()[:300])
    rc, out, err = run_eddy(["--test", "--config=" + path, "--listen", "127.0.0.1:1",
                             "--root=" + WWW])
    eq(rc, 0, "exit code of --test with = forms (output: %s)" % (out + err).strip()[:300])
    d = suite.start(None, args=["--root", WWW, "--listen", "127.0.0.1:{port}"], name="long")
    eq(d.get("/hello.txt").body, b"hello from -r\n", "/hello.txt")
    d.stop()


@suite.test("usage errors exit 2 with 'usage:' on stderr, unlike config errors (1)")
def _():
    for args in (["-Z"], ["--bogus"], ["-c"], ["--config"], ["stray"], ["-t", "a", "b"]):
        rc, out, err = run_eddy(args)
        eq(rc, 2, "exit code of eddy %s" % " ".join(args))
        match(r"(?m)^usage: eddy", err, "stderr of eddy %s" % " ".join(args))
        eq(out, "", "stdout of eddy %s" % " ".join(args))
    path, _, _ = write_case("usage-vs-config", CASES["unknown key in [server]"])
    rc, out, err = run_eddy(["-t", "-c", path])
    eq(rc, 1, "exit code of a config error")
    lacks(err, "usage:", "stderr of a config error")


suite.run()

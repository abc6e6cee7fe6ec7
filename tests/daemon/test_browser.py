#!/usr/bin/python3
"""eddy black-box: a real browser (headless Debian chromium) loads the
embedded welcome page, whose live demo round-trips a message through the
/ws/echo route and receives what the test publishes on /ps/demo.

The browser is driven over the DevTools protocol on a pipe
(--remote-debugging-pipe: JSON messages separated by NUL bytes, commands on
the browser's fd 3, answers and events on its fd 4), with the standard
library only; no debugging port is opened.  Skipped without chromium."""
import atexit
import fcntl
import json
import os
import re
import select
import shutil
import signal
import sys
import time
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eddytest import *  # noqa: E402,F401,F403

suite = Suite()

# Browsers still running (a test interrupted by its alarm): killed at exit.
_browsers = []
atexit.register(lambda: [b.close() for b in list(_browsers)])

# Starting a browser on a loaded 2-core machine (or beside valgrind) takes
# seconds; every wait below is this bound, scaled.
BROWSER_WAIT = 45


def chromium_path():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """A headless chromium on one page, killed (with its whole process group:
    zygote, renderer, GPU process) by close() whatever state it is in."""

    def __init__(self, url):
        self.profile = suite.path("chromium-profile")
        self.pid = self.status = None
        self.cmd_w = self.res_r = -1
        self.buf = b""
        self.next_id = 0
        self.session = None
        self.log = suite.path("chromium.log")
        # The child's ends are moved to its fds 3 and 4 by posix_spawn's file
        # actions (Popen's preexec_fn could collide with its own error pipe).
        cmd_r, self.cmd_w = os.pipe()
        self.res_r, res_w = os.pipe()
        args = [chromium_path(), "--headless", "--remote-debugging-pipe",
                "--user-data-dir=" + self.profile, "--no-first-run",
                "--no-default-browser-check", "--disable-gpu", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-dev-shm-usage", "--no-proxy-server",
                "--mute-audio", "--password-store=basic", "--use-mock-keychain",
                url]
        if os.geteuid() == 0:
            # Chromium refuses to run as root with its sandbox on.
            args.insert(1, "--no-sandbox")
        try:
            hi_r = fcntl.fcntl(cmd_r, fcntl.F_DUPFD_CLOEXEC, 10)
            hi_w = fcntl.fcntl(res_w, fcntl.F_DUPFD_CLOEXEC, 10)
            try:
                actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                           (os.POSIX_SPAWN_OPEN, 1, self.log,
                            os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
                           (os.POSIX_SPAWN_DUP2, 1, 2),
                           (os.POSIX_SPAWN_DUP2, hi_r, 3),
                           (os.POSIX_SPAWN_DUP2, hi_w, 4)]
                self.pid = os.posix_spawn(args[0], args, os.environ, file_actions=actions,
                                          setsid=True)
            finally:
                os.close(hi_r)
                os.close(hi_w)
        finally:
            os.close(cmd_r)
            os.close(res_w)
        _browsers.append(self)

    def exited(self):
        """True once the browser has exited; it stays unreaped (a zombie)
        until close(), so that its process group id cannot be reused."""
        info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        return info is not None

    def close(self):
        if self.pid is None:
            return
        # Asked first, chromium reaps its own children; then the group is
        # killed in any case, for whatever did not go.
        try:
            self.session = None
            self.call("Browser.close", timeout=2)
            deadline = time.monotonic() + scaled(2)
            while not self.exited() and time.monotonic() < deadline:
                time.sleep(0.05)
        except (Failure, OSError, ValueError):
            pass
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except OSError:
            pass
        self.status = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        self.pid = None
        for fd in (self.cmd_w, self.res_r):
            if fd >= 0:
                os.close(fd)
        self.cmd_w = self.res_r = -1
        shutil.rmtree(self.profile, ignore_errors=True)
        if self in _browsers:
            _browsers.remove(self)

    def output(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # -- the protocol

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                fail("chromium: no DevTools answer in time; its output:\n%s"
                     % tail(self.output()))
            r, _, _ = select.select([self.res_r], [], [], left)
            if not r:
                continue
            chunk = os.read(self.res_r, 65536)
            if not chunk:
                fail("chromium closed its DevTools pipe (exited: %s); its output:\n%s"
                     % (self.exited(), tail(self.output())))
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, timeout=BROWSER_WAIT):
        """Sends one command (to the page once attached) and returns its
        result; events met on the way are dropped."""
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if self.session is not None and not method.startswith("Target."):
            msg["sessionId"] = self.session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            data = data[os.write(self.cmd_w, data):]
        deadline = time.monotonic() + scaled(timeout)
        while True:
            answer = self._read_message(deadline)
            if answer.get("id") != self.next_id:
                continue
            if "error" in answer:
                fail("DevTools %s: %s" % (method, answer["error"]))
            return answer.get("result", {})

    def attach(self, url_prefix):
        """Attaches to the page whose URL starts with url_prefix."""
        def page():
            targets = self.call("Target.getTargets")["targetInfos"]
            for t in targets:
                if t["type"] == "page" and t["url"].startswith(url_prefix):
                    return t["targetId"]
            return None
        target = wait_until(page, BROWSER_WAIT, "a page target for " + url_prefix, 0.2)
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": target, "flatten": True})["sessionId"]

    def eval(self, expression):
        """The value of a JavaScript expression in the page (JSON types)."""
        res = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in res:
            fail("page script %r threw: %s" % (expression, res["exceptionDetails"]))
        return res["result"].get("value")

    def text(self, selector):
        return self.eval("(function(){var e = document.querySelector(%s);"
                         " return e ? e.textContent : null;})()" % json.dumps(selector))

    def items(self, selector):
        """The textContent of each element matching selector."""
        return self.eval("Array.prototype.map.call(document.querySelectorAll(%s),"
                         " function(e){return e.textContent;})" % json.dumps(selector))


@suite.fixture
def default_site():
    """eddy without -c: the embedded site, welcome page and demo routes."""
    return suite.start(None, args=["-l", "127.0.0.1:{port}"], name="default")


def with_browser(fn):
    """Runs fn(daemon, browser) on the embedded site's welcome page."""
    if chromium_path() is None:
        raise Skip("chromium is not installed (Debian package chromium)")
    d = default_site()
    b = Browser(d.url("/"))
    try:
        b.attach(d.url("/"))
        fn(d, b)
    finally:
        b.close()


def wait_text(b, selector, want, what):
    """Waits until selector's text contains want; returns that text."""
    def has():
        text = b.text(selector) or ""
        return want in text and text
    return wait_until(has, BROWSER_WAIT, what, 0.1)


@suite.test("the embedded site: the welcome page carries the demo (inline, no external "
            "resource); /ws/echo answers a plain POST with its body; /ps/demo is a channel")
def _():
    d = default_site()
    r = d.get("/")
    eq(r.status, 200, "/ status")
    page = r.text()
    for needle in ('id="echo-log"', 'id="echo-status"', 'id="ps-log"', 'id="ps-status"',
                   "'/ws/echo'", "'/ps/demo'", "<script>", "/health"):
        contains(page, needle, "welcome page")
    # Nothing fetched from elsewhere: no src= or href= to another origin.
    lacks(page, "src=", "welcome page")
    for m in re.finditer(r'href="([^"]*)"', page):
        ok(m.group(1).startswith("/") or m.group(1).startswith("data:"),
           "welcome page links to another origin: %s" % m.group(1))
    r = d.request("POST", "/ws/echo", body=b"plain echo",
                  headers=[("Content-Type", "text/plain")])
    eq((r.status, r.body, r.h("content-type")), (200, b"plain echo", "text/plain"),
       "POST /ws/echo")
    # An unknown channel is a 404 too, but one the pub/sub route answers.
    r = d.get("/ps/demo")
    isin(r.status, (200, 404), "GET /ps/demo")
    match(r"^application/json", r.h("content-type"), "GET /ps/demo Content-Type")
    ok(isinstance(json.loads(r.body), dict), "GET /ps/demo: not a JSON object: %r" % r.body)


@suite.test("welcome page in chromium: the echo demo opens /ws/echo and shows the echo of "
            "its greeting and of a typed message", timeout=120)
def _():
    def check(d, b):
        wait_text(b, "#echo-status", "open", "#echo-status")
        wait_text(b, "#echo-log", "hello from the browser", "the greeting's echo in #echo-log")
        b.eval("document.getElementById('echo-input').value = 'typed \\u00e9 message';"
               "document.querySelector('#echo-form button').click(); true")
        wait_text(b, "#echo-log", "typed \u00e9 message", "the typed message's echo")
        eq(b.items("#echo-log li"), ["hello from the browser", "typed \u00e9 message"],
           "#echo-log items")
    with_browser(check)


@suite.test("welcome page in chromium: the pub/sub demo subscribes to /ps/demo, shows what "
            "the test POSTs and publishes with its own form", timeout=120)
def _():
    def check(d, b):
        wait_text(b, "#ps-status", "open", "#ps-status")
        r = d.request("POST", "/ps/demo", body=b"from the test",
                      headers=[("Content-Type", "text/plain; charset=utf-8")])
        eq(r.status, 200, "POST /ps/demo")
        match(r'"subscribers":\s*[1-9]', r.text(), "POST answer")
        wait_text(b, "#ps-log", "from the test", "the POSTed message in #ps-log")
        # A binary publish (as curl -d sends) is shown decoded too.
        r = d.request("POST", "/ps/demo", body=b"binary hi",
                      headers=[("Content-Type", "application/octet-stream")])
        eq(r.status, 200, "binary POST /ps/demo")
        wait_text(b, "#ps-log", "binary hi", "the binary message in #ps-log")
        b.eval("document.getElementById('ps-input').value = 'from the page';"
               "document.querySelector('#ps-form button').click(); true")
        wait_text(b, "#ps-log", "from the page", "the page's own publish in #ps-log")
        match(r"^200 ", wait_text(b, "#ps-result", "200", "#ps-result"), "#ps-result")
        eq(b.items("#ps-log li"), ["from the test", "binary hi", "from the page"],
           "#ps-log items")
    with_browser(check)


suite.run()

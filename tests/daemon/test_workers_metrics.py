#!/usr/bin/python3
"""eddy black-box: the metrics route with [server] workers = 2: one scrape,
whichever worker takes it, shows every worker's numbers, each sample
labelled worker="N" (its slot; worker="gG-N" for a worker of an older
generation still draining after a reload); HELP/TYPE once per family; the
text parses with prometheus_client; histograms stay cumulative; per-worker
counters move by the requests each worker served.  With workers = 1 no
worker label appears.

Which worker holds a connection is read with ss(8) (the server-side socket's
pid for the client's local port).  EDDY_TEST_WORKERS=1 runs the counting test
on one process, to check the test itself; the others skip then."""
import os
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eddytest import *  # noqa: E402,F401,F403
from promtest import *  # noqa: E402,F401,F403
from workerstest import pid_alive, server_pids  # noqa: E402
from workerstest import workers as _workers  # noqa: E402

suite = Suite()
WORKERS = int(os.environ.get("EDDY_TEST_WORKERS") or 2)
BOUND = 60  # connections opened at most to get some on every worker

CONF = """[server]
listen = 127.0.0.1:{port}
workers = {workers}
[timeouts]
shutdown = 10s
[route = /metrics]
type = metrics
[route /health]
type = return
status = 200
body = {body}
"""
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def conf(workers=WORKERS, body="one"):
    return CONF.replace("{workers}", str(workers)).replace("{body}", body)


def start(name, workers=WORKERS):
    d = suite.start(conf(workers), name=name)
    if workers > 1:
        d.wait_output(r"generation 1: %d workers ready" % workers, 5)
    return d


def need_workers():
    if WORKERS < 2:
        raise Skip("needs worker processes (EDDY_TEST_WORKERS=%d)" % WORKERS)


# ------------------------------------------------------------------ who serves what

def workers(d, workers_n=WORKERS):
    return _workers(d, workers_n)


def holder(d, conn):
    lport = conn.sock.getsockname()[1]
    return wait_until(lambda: server_pids(d.port).get(lport), 5,
                      "ss shows which process holds client port %d" % lport)


def pinned(d):
    """{slot: a keep-alive Conn served by that worker}, one per worker."""
    slots = {pid: slot for slot, pid in workers(d).items()}
    eq(len(slots), WORKERS, "live workers %s" % slots)
    out, opened = {}, 0
    while len(out) < len(slots):
        if opened >= BOUND:
            fail("after %d connections only the workers %s hold one" % (opened, sorted(out)))
        c = Conn(d.port)
        opened += 1
        slot = slots.get(holder(d, c))
        if slot is None or slot in out:
            c.close()
        else:
            out[slot] = c
    return out


# ------------------------------------------------------------------ the text

def worker_labels(s):
    """The worker label of every sample (None for a sample without one)."""
    return {dict(labels).get("worker") for _, labels in s}


def scrape_on(c):
    c.req("GET", "/metrics")
    r = c.read_response()
    eq(r.status, 200, "GET /metrics status (body %r)" % r.body[:300])
    eq(r.h("Content-Type"), CONTENT_TYPE, "Content-Type")
    return r.body.decode("utf-8")


def scrape(d):
    """(slot of the worker that served it, text) of a scrape on a new connection."""
    slots = {pid: slot for slot, pid in workers(d).items()}
    with Conn(d.port, timeout=scaled(5)) as c:
        slot = slots.get(holder(d, c))
        return slot, scrape_on(c)


def scrapes(d, check, at_least=6):
    """Scrapes on new connections, at_least times and until every worker
    served one (bounded); check(slot, text) on each.  Returns the count."""
    served, n = set(), 0
    while n < at_least or len(served) < WORKERS:
        if n >= BOUND:
            fail("after %d scrapes only the workers %s served one" % (n, sorted(served)))
        slot, text = scrape(d)
        served.add(slot)
        n += 1
        check(slot, text)
    return n


def wl(slot):
    """The worker label of slot's samples ({} with one process)."""
    return {"worker": str(slot)} if WORKERS > 1 else {}


# ------------------------------------------------------------------ the tests

@suite.test("workers = 2: every sample of one scrape has worker=\"1\" or \"2\", both present, "
            "whichever worker serves it; HELP/TYPE once; prometheus_client parses it")
def _():
    need_workers()
    d = start("labels")
    for _ in range(4):
        d.health()
    d.get("/nope")

    def check(slot, text):
        types = check_exposition(text)
        s = samples(text)
        eq(worker_labels(s), {"1", "2"}, "worker labels of the samples (served by worker %s)"
           % slot)
        eq(types.get("eddy_http_request_duration_seconds"), "histogram", "the duration family")
        for name in ("eddy_process_resident_memory_bytes", "eddy_http_connections_open",
                     "eddy_http_connections_accepted_total", "eddy_loop_lag_seconds"):
            for w in ("1", "2"):
                value(s, name, worker=w)
        for w in ("1", "2"):
            value(s, "eddy_http_requests_total", route="/health", code="2xx", worker=w)
            value(s, "eddy_http_request_duration_seconds_bucket", route="/health", le="+Inf",
                  worker=w)
        # Every series of one worker has its twin in the other's.
        strip = {}
        for (n, labels), _ in s.items():
            w = dict(labels).get("worker")
            strip.setdefault(w, set()).add((n, frozenset(kv for kv in labels
                                                         if kv[0] != "worker")))
        eq(strip["1"] ^ strip["2"], set(), "series only one worker has")
        fams = parse(text)
        if fams is not None:
            eq(fams["eddy_http_request_duration_seconds"].type, "histogram", "parsed type")
            got = sorted(smp.labels.get("worker") for smp in fams["eddy_http_requests"].samples
                         if smp.labels.get("route") == "/health"
                         and smp.labels.get("code") == "2xx")
            eq(got, ["1", "2"], "parsed /health 2xx series' worker labels")
            eq(sum(smp.value for smp in fams["eddy_http_requests"].samples
                   if smp.labels.get("route") == "/health" and smp.labels.get("code") == "2xx"),
               4.0, "parsed /health 2xx summed over the workers")
    scrapes(d, check)


@suite.test("the per-worker counters move by what each worker served, seen from a scrape "
            "on either worker")
def _():
    d = start("counters")
    conns = pinned(d)
    try:
        made = {slot: 3 + 2 * i for i, slot in enumerate(sorted(conns))}
        _, t0 = scrape(d)
        s0 = samples(t0)
        scraped = [1]
        for slot, c in conns.items():
            for _ in range(made[slot]):
                c.req("GET", "/health")
                eq(c.read_response().status, 200, "GET /health on worker %d" % slot)
            c.req("GET", "/nope")
            eq(c.read_response().status, 404, "GET /nope on worker %d" % slot)

        def check(served, text):
            s = samples(text)

            def delta(name, slot, **labels):
                labels.update(wl(slot))
                return value(s, name, **labels) - value(s0, name, **labels)
            for slot, n in made.items():
                eq(delta("eddy_http_requests_total", slot, route="/health", code="2xx"), n,
                   "/health 2xx of worker %s (scrape served by worker %s)" % (slot, served))
                eq(delta("eddy_http_request_duration_seconds_count", slot, route="/health"), n,
                   "/health durations of worker %s (scrape served by %s)" % (slot, served))
                eq(delta("eddy_http_requests_total", slot, route="-", code="4xx"), 1,
                   "unrouted 4xx of worker %s (scrape served by %s)" % (slot, served))
            eq(sum(value(s, "eddy_http_requests_total", route="/health", code="2xx", **wl(w))
                   for w in made),
               sum(value(s0, "eddy_http_requests_total", route="/health", code="2xx", **wl(w))
                   for w in made) + sum(made.values()),
               "/health 2xx summed over the workers")
            # Each earlier scrape counted once, on the worker that served it.
            eq(sum(value(s, "eddy_http_requests_total", route="/metrics", code="2xx", **wl(w))
                   for w in made), len(scraped),
               "/metrics 2xx summed over the workers (scrape served by %s)" % served)
            scraped.append(served)
        scrapes(d, check)
    finally:
        for c in conns.values():
            c.close()


@suite.test("after a SIGHUP, a worker of generation 1 still draining is labelled "
            "worker=\"g1-N\" next to the new 1 and 2; gone once it has finished")
def _():
    need_workers()
    d = start("draining")
    conns = pinned(d)
    slow_slot = sorted(conns)[0]
    slow = conns.pop(slow_slot)
    for c in conns.values():
        c.close()
    # A request in flight keeps that worker draining.
    slow.req("POST", "/health", headers=[("Content-Length", "10")])
    slow.send(b"01234")
    old = workers(d)
    d.reload(conf(body="two"))
    d.wait_output(r"configuration reloaded", 10)
    new = workers(d)
    ok(not set(new.values()) & set(old.values()), "a new generation: %s, was %s" % (new, old))
    ok(pid_alive(old[slow_slot]), "the old worker %d with a request in flight drains"
       % slow_slot)
    label = "g1-%d" % slow_slot

    def check(slot, text):
        check_exposition(text)
        parse(text)
        labels = worker_labels(samples(text))
        ok({"1", "2", label} <= labels,
           "worker labels %s include 1, 2 and %s (served by %s)" % (sorted(map(str, labels)),
                                                                  label, slot))
        ok(labels <= {"1", "2", "g1-1", "g1-2"}, "worker labels %s" % sorted(map(str, labels)))
    scrapes(d, check, at_least=3)
    slow.send(b"56789")
    r = slow.read_response("POST")
    eq((r.status, r.body), (200, b"one"), "the request in flight, on the old configuration")
    slow.close()
    wait_until(lambda: not pid_alive(old[slow_slot]), 10, "the old worker exits")

    def check_after(slot, text):
        labels = worker_labels(samples(text))
        eq(labels, {"1", "2"}, "worker labels once generation 1 is gone (served by %s)" % slot)
    scrapes(d, check_after, at_least=3)


@suite.test("workers = 1: no worker label (the output is unchanged)")
def _():
    d = start("single", workers=1)
    d.health()
    with Conn(d.port) as c:
        text = scrape_on(c)
    check_exposition(text)
    s = samples(text)
    eq(worker_labels(s), {None}, "worker labels")
    eq(value(s, "eddy_http_requests_total", route="/health", code="2xx"), 1, "/health 2xx")
    fams = parse(text)
    if fams is not None:
        ok("eddy_http_requests" in fams, "the requests family parsed")


suite.run()

#!/usr/bin/python3
"""eddy black-box: the metrics route (type = metrics, Prometheus text 0.0.4):
counters move with requests, the exposition rules hold and Debian's
prometheus_client parses it; the loop-stall detector ([server] stall_warn)
logs a task that blocks the loop, with its request, and loop lag shows it.

The stall is made on demand with EDDY_TEST_STALL=MS, which makes each scrape
spin MS ms before it renders (honoured only when set: tests only)."""
import os
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eddytest import *  # noqa: E402,F401,F403
from promtest import *  # noqa: E402,F401,F403

suite = Suite()
WWW = suite.path("www")
write_file(os.path.join(WWW, "page.html"), b"x" * 5000)

CONF = """[server]
listen = 127.0.0.1:{port}
stall_warn = {stall}
[route = /metrics]
type = metrics
[route /health]
type = return
status = 200
body = ok
[route /files/]
type = static
root = {www}
"""
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def start(name, stall="100ms", env=None):
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        return suite.start(CONF, name=name, subs={"www": WWW, "stall": stall})
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def scrape_text(d):
    r = d.get("/metrics")
    eq(r.status, 200, "GET /metrics status")
    eq(r.h("Content-Type"), CONTENT_TYPE, "Content-Type")
    return r.body.decode("utf-8")


def scrape(d):
    return samples(scrape_text(d))


@suite.test("requests, bytes and connections move the counters")
def _():
    d = start("counters")
    s0 = scrape(d)
    for _ in range(3):
        d.health()
    for _ in range(2):
        eq(d.get("/nope").status, 404, "GET /nope")
    eq(d.get("/files/page.html").status, 200, "a static file")
    eq(d.get("/files/missing").status, 404, "a missing file")
    s1 = scrape(d)

    def delta(name, **labels):
        return value(s1, name, **labels) - value(s0, name, **labels)
    eq(delta("eddy_http_requests_total", route="/health", code="2xx"), 3, "/health 2xx")
    eq(delta("eddy_http_requests_total", route="-", code="4xx"), 2, "unrouted 4xx")
    eq(delta("eddy_http_requests_total", route="/files/", code="2xx"), 1, "/files/ 2xx")
    eq(delta("eddy_http_requests_total", route="/files/", code="4xx"), 1, "/files/ 4xx")
    eq(delta("eddy_http_requests_total", route="/metrics", code="2xx"), 1, "the first scrape")
    eq(delta("eddy_http_request_duration_seconds_count", route="/health"), 3,
       "/health durations")
    eq(delta("eddy_http_request_duration_seconds_bucket", route="/health", le="+Inf"), 3,
       "/health +Inf bucket")
    eq(delta("eddy_http_connections_accepted_total"), 8, "connections accepted")
    ok(delta("eddy_http_sent_bytes_total") > 5000, "bytes sent grew by the file at least")
    # The earlier connections may still be closing (lingering close).
    wait_until(lambda: value(scrape(d), "eddy_http_connections_open") == 1, 3,
               "open connections: the scrape's alone")
    eq(value(s1, "eddy_http_connections_max"), 10000, "max_connections")
    ok(value(s1, "eddy_runtime_tasks") >= 3, "tasks: main, acceptor, the scrape's...")
    ok(value(s1, "eddy_process_resident_memory_bytes") > 1 << 20, "RSS")
    ok(value(s1, "eddy_process_cpu_seconds_total") > 0, "CPU time")
    value(s1, "eddy_loop_stalls_total")  # valgrind's slowness makes stalls
    eq(value(s1, "eddy_access_log_dropped_total"), 0, "no access-log drop")
    for name in ("eddy_websocket_sessions_open", "eddy_pubsub_deliveries_total",
                 "eddy_pubsub_slow_consumer_disconnects_total"):
        value(s1, name)
    # After a reload the routes keep their counters.
    d.reload(CONF)
    wait_until(lambda: "configuration reloaded" in d.output(), 3, "the reload")
    eq(value(scrape(d), "eddy_http_requests_total", route="/health", code="2xx"),
       value(s1, "eddy_http_requests_total", route="/health", code="2xx"),
       "/health 2xx after a reload")


@suite.test("exposition: HELP/TYPE once per family, cumulative buckets, +Inf == _count")
def _():
    d = start("exposition")
    for _ in range(5):
        d.health()
    d.get("/nope")
    types = check_exposition(scrape_text(d))
    eq(types.get("eddy_http_request_duration_seconds"), "histogram", "the duration family")
    eq(types.get("eddy_loop_lag_seconds"), "gauge", "the loop lag family")


@suite.test("Debian's prometheus_client parses the scrape")
def _():
    if text_string_to_metric_families is None:
        raise Skip("python3-prometheus-client is not installed")
    d = start("parser")
    d.health()
    fams = {f.name: f for f in text_string_to_metric_families(scrape_text(d))}
    # The parser drops a counter's _total from the family name.
    for name in ("eddy_http_requests", "eddy_http_request_duration_seconds",
                 "eddy_http_connections_open", "eddy_loop_lag_seconds", "eddy_loop_stalls",
                 "eddy_websocket_sessions_open", "eddy_pubsub_queue_drops",
                 "eddy_process_cpu_seconds", "eddy_runtime_stacks_pooled"):
        ok(name in fams, "family %s parsed" % name)
    eq(fams["eddy_http_request_duration_seconds"].type, "histogram", "histogram type")
    health = [s for s in fams["eddy_http_requests"].samples
              if s.labels == {"route": "/health", "code": "2xx"}]
    eq([s.value for s in health], [1.0], "/health 2xx through the parser")


@suite.test("HEAD /metrics has the head only; POST is 405")
def _():
    d = start("methods")
    r = d.request("HEAD", "/metrics")
    eq(r.status, 200, "HEAD status")
    eq(r.body, b"", "HEAD body")
    eq(r.h("Content-Type"), CONTENT_TYPE, "HEAD Content-Type")
    eq(d.request("POST", "/metrics").status, 405, "POST status")


@suite.test("a task that blocks the loop is logged with its request; lag shows it")
def _():
    d = start("stall", env={"EDDY_TEST_STALL": "400"})
    scrape(d)  # spins 400 ms before rendering
    m = d.wait_output(r'\[warn\] stall: task "conn" \(GET /metrics\) ran (\d+) ms without '
                      r'yielding \(stall_warn 100 ms\)', 3)
    ok(int(m.group(1)) >= 390, "the run logged lasted the spin (%s ms)" % m.group(1))
    s = scrape(d)
    ok(value(s, "eddy_loop_stalls_total") >= 1, "stalls counted")
    # The lag task's 100 ms sleep ended during the spin: it woke >= 300 ms late.
    ok(value(s, "eddy_loop_lag_max_seconds") >= 0.2, "loop lag max %s"
       % value(s, "eddy_loop_lag_max_seconds"))


@suite.test("stall_warn = 0: no stall is logged; a reload turns the detector on")
def _():
    d = start("stall-off", stall="0", env={"EDDY_TEST_STALL": "300"})
    scrape(d)
    s = scrape(d)
    eq(value(s, "eddy_loop_stalls_total"), 0, "stalls counted")
    time.sleep(scaled(0.2))
    lacks(d.output(), "stall:", "the error log")
    d.subs["stall"] = "100ms"
    d.reload(CONF)
    wait_until(lambda: "configuration reloaded" in d.output(), 3, "the reload")
    scrape(d)
    d.wait_output(r'stall: task "conn" \(GET /metrics\) ran \d+ ms', 3)


@suite.test("stall_warn takes a duration; -t refuses anything else")
def _():
    conf = suite.path("bad-stall.ini")
    write_file(conf, b"[server]\nstall_warn = soon\n")
    rc, out, err = run_eddy(["-t", "-c", conf])
    eq(rc, 1, "eddy -t exit code")
    contains(err, "stall_warn", "the error")


suite.run()

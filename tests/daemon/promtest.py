"""promtest: reading the Prometheus text format (0.0.4) that type = metrics
serves, for the black-box tests (test_metrics.py, test_workers_metrics.py):
samples by series, the exposition rules, and Debian's prometheus_client
parser when it is installed."""
import os
import re
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eddytest import *  # noqa: E402,F401,F403

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:  # python3-prometheus-client (autogen.sh installs it)
    text_string_to_metric_families = None

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def samples(text):
    """{(name, frozenset(labels)): value} of every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        ok(m, "sample line %r" % line)
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        key = (m.group(1), labels)
        ok(key not in out, "series %r given twice" % line)
        out[key] = float(m.group(3))
    return out


def value(s, name, **labels):
    key = (name, frozenset(labels.items()))
    ok(key in s, "series %s%r in the scrape" % (name, labels))
    return s[key]


def check_exposition(text):
    """HELP and TYPE once per family, before its samples; histograms have
    cumulative buckets ending in +Inf == _count, and a _sum (per series,
    the worker label included)."""
    helps, types, seen_samples = {}, {}, set()
    current = None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            ok(name not in helps, "HELP of %s given twice" % name)
            ok(name not in seen_samples, "HELP of %s after its samples" % name)
            helps[name] = True
            current = name
        elif line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ")
            ok(name not in types, "TYPE of %s given twice" % name)
            eq(name, current, "TYPE right after its HELP")
            isin(typ, ("counter", "gauge", "histogram"), "type of %s" % name)
            types[name] = typ
        elif line.startswith("#"):
            fail("unexpected comment line %r" % line)
        elif line:
            m = SAMPLE.match(line)
            ok(m, "sample line %r" % line)
            name, family = m.group(1), current
            ok(family is not None and (name == family or (types.get(family) == "histogram"
                                                           and name in (family + "_bucket",
                                                                        family + "_sum",
                                                                        family + "_count"))),
               "sample %s under family %s" % (name, family))
            ok(name.startswith("eddy_"), "%s has the eddy_ prefix" % name)
            seen_samples.add(family)
    eq(set(helps), set(types), "families with both HELP and TYPE")
    for name, typ in types.items():
        if typ == "counter":
            ok(name.endswith("_total"), "counter %s ends in _total" % name)
    s = samples(text)
    for name, typ in types.items():
        if typ != "histogram":
            continue
        series = {}
        for (n, labels), v in s.items():
            if n == name + "_bucket":
                rest = frozenset(kv for kv in labels if kv[0] != "le")
                series.setdefault(rest, []).append((float(dict(labels)["le"]), v))
        ok(series, "histogram %s has series" % name)
        for rest, buckets in series.items():
            buckets.sort()
            eq(buckets[-1][0], float("inf"), "%s%s ends with le=+Inf" % (name, dict(rest)))
            counts = [v for _, v in buckets]
            eq(counts, sorted(counts), "%s%s buckets cumulative" % (name, dict(rest)))
            eq(counts[-1], s.get((name + "_count", rest)), "%s%s +Inf == _count"
               % (name, dict(rest)))
            ok((name + "_sum", rest) in s, "%s_sum%s" % (name, dict(rest)))
    return types


def parse(text):
    """prometheus_client's families by name (None without the module)."""
    if text_string_to_metric_families is None:
        return None
    try:
        return {f.name: f for f in text_string_to_metric_families(text)}
    except Exception as e:  # noqa: BLE001
        fail("prometheus_client cannot parse the scrape: %r\n%s" % (e, text[:2000]))

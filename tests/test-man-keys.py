#!/usr/bin/python3
"""Every key that conf/eddy.ini shows (set, commented out, or in a table of
route keys) is documented in man/eddy.ini.5 as a `.B key` line, so that the
two stay in step.  TAP output; run by make check."""
import os
import re
import sys

src = os.environ.get("EDDY_SRCDIR") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
with open(os.path.join(src, "conf", "eddy.ini")) as f:
    ini = f.read()
with open(os.path.join(src, "man", "eddy.ini.5")) as f:
    man = f.read()

keys = []
for pattern in (r"(?m)^([a-z_]+)\s*=",            # listen = 127.0.0.1:8080
                r"(?m)^;\s*([a-z_]+)\s*=\s*\S",   # ; root = /var/www/static
                r"(?m)^;\s{2,4}([a-z_]+)\s{2,}\S"):  # ;   root     directory to serve
    for k in re.findall(pattern, ini):
        if k not in keys:
            keys.append(k)

documented = set(re.findall(r"(?m)^\.B ([a-z_]+)\s*$", man))
n = 0
failed = 0
if len(keys) < 20:
    n += 1
    failed += 1
    print("not ok %d - conf/eddy.ini shows keys (found only %d: %s)" % (n, len(keys), keys))
for k in keys:
    n += 1
    if k in documented:
        print("ok %d - %s is in eddy.ini(5)" % (n, k))
    else:
        failed += 1
        print("not ok %d - %s is in eddy.ini(5)" % (n, k))
        print("# conf/eddy.ini shows the key %r; document it in man/eddy.ini.5 as a"
              " `.B %s` line" % (k, k))
print("1..%d" % n)
sys.exit(1 if failed else 0)

#!/usr/bin/python3
"""eddy black-box: static roots changed under a running daemon, as deploys
do (a symlink swapped, a directory renamed over the root, the root deleted
and recreated), and descriptors of deleted files closed without a request."""
import os
import shutil
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eddytest import *  # noqa: E402,F401,F403

suite = Suite()
BASE = suite.path("sites")
# One root per test, so that the tests do not depend on each other.
SYM = os.path.join(BASE, "sym")          # a symlink to a release directory
MV = os.path.join(BASE, "mv")
RM = os.path.join(BASE, "rm")
AWAY = os.path.join(BASE, "away")
DEL = os.path.join(BASE, "del")

write_file(os.path.join(BASE, "release1", "f.txt"), b"release 1\n")
os.symlink("release1", SYM)
for root in (MV, RM, AWAY):
    write_file(os.path.join(root, "f.txt"), b"old tree\n")
write_file(os.path.join(DEL, "big.bin"), os.urandom(200 * 1024))
write_file(os.path.join(DEL, "small.txt"), b"small\n")

CONF = """
[server]
listen = 127.0.0.1:{port}
[route /sym/]
type = static
root = {sym}
[route /mv/]
type = static
root = {mv}
[route /rm/]
type = static
root = {rm}
[route /away/]
type = static
root = {away}
[route /del/]
type = static
root = {del}
"""


@suite.fixture
def d():
    return suite.start(CONF, subs={"sym": SYM, "mv": MV, "rm": RM, "away": AWAY, "del": DEL})


def get(path):
    return d().request("GET", path)


def served(path, body):
    """A predicate for wait_until: path answers 200 with body."""
    def check():
        r = get(path)
        return r.status == 200 and r.body == body
    return check


def hot(path, body, n=10):
    for _ in range(n):
        r = get(path)
        eq((r.status, r.body), (200, body), path)


@suite.test("symlink-swap deploy (ln -sfn new root.tmp && mv -T root.tmp root)")
def _():
    hot("/sym/f.txt", b"release 1\n")
    write_file(os.path.join(BASE, "release2", "f.txt"), b"release 2, new\n")
    write_file(os.path.join(BASE, "release2", "added.txt"), b"added\n")
    tmp = os.path.join(BASE, "sym.tmp")
    os.symlink("release2", tmp)
    os.rename(tmp, SYM)
    wait_until(served("/sym/f.txt", b"release 2, new\n"), 2, "the new release is served")
    eq(get("/sym/added.txt").body, b"added\n", "a file only in the new release")


@suite.test("directory renamed over the root (mv root root.bak; mv new root)")
def _():
    hot("/mv/f.txt", b"old tree\n")
    eq(get("/mv/only-new.txt").status, 404, "a file of the new tree before the deploy")
    new = os.path.join(BASE, "mv.new")
    write_file(os.path.join(new, "f.txt"), b"new tree, longer\n")
    write_file(os.path.join(new, "only-new.txt"), b"only new\n")
    os.rename(MV, MV + ".bak")
    os.rename(new, MV)
    wait_until(served("/mv/f.txt", b"new tree, longer\n"), 2, "the new tree is served")
    eq(get("/mv/only-new.txt").body, b"only new\n", "a file only in the new tree")


@suite.test("root deleted and recreated: served again, no lasting 404")
def _():
    hot("/rm/f.txt", b"old tree\n")
    eq(get("/rm/later.txt").status, 404, "later.txt before it exists (a remembered miss)")
    shutil.rmtree(RM)
    write_file(os.path.join(RM, "f.txt"), b"recreated\n")
    write_file(os.path.join(RM, "later.txt"), b"later\n")
    wait_until(served("/rm/f.txt", b"recreated\n"), 2, "the recreated root is served")
    for _ in range(10):
        eq(get("/rm/later.txt").body, b"later\n", "later.txt after the recreation")
        eq(get("/rm/f.txt").status, 200, "f.txt after the recreation")


@suite.test("root renamed away and nothing put back: 404, as nginx")
def _():
    hot("/away/f.txt", b"old tree\n")
    os.rename(AWAY, AWAY + ".gone")
    wait_until(lambda: get("/away/f.txt").status == 404, 2, "404 without a root")
    write_file(os.path.join(AWAY, "f.txt"), b"back\n")
    wait_until(served("/away/f.txt", b"back\n"), 2, "a new root at the path is served")


def open_files(pid):
    """What the process's descriptors point to."""
    out = []
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            out.append(os.readlink(os.path.join(fd_dir, fd)))
        except OSError:
            pass                    # closed meanwhile
    return out


@suite.test("a deleted file's descriptor is closed without a request for it")
def _():
    pid = d().proc.pid
    if not os.path.isdir("/proc/%d/fd" % pid):
        raise Skip("no /proc/PID/fd")
    big, small = os.path.join(DEL, "big.bin"), os.path.join(DEL, "small.txt")
    eq(get("/del/big.bin").status, 200, "big.bin")
    eq(get("/del/small.txt").status, 200, "small.txt")
    before = open_files(pid)
    isin(big, before, "big.bin among the open files")
    n = len(before)
    os.unlink(big)
    os.unlink(small)
    # Only the unlinked files' descriptors may go; nothing asks for them.
    wait_until(lambda: not [f for f in open_files(pid) if f.startswith(DEL + "/")], 3,
               "the deleted files' descriptors closed")
    less(len(open_files(pid)), n, "descriptors after the deletion")
    eq(get("/del/big.bin").status, 404, "big.bin after the deletion")


suite.run()

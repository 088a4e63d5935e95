#!/usr/bin/env python3
"""Checks latencyfs as a file system: what is done through the mount is what
the backing directory shows, across renames, links and unlinks, and a tree of
more files than the process may hold descriptors (RLIMIT_NOFILE) stays
usable. Needs root (FUSE) and a built latencyfs:

    perf/check_latencyfs.py build-release/perf/latencyfs [--files 25000]
"""
import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time


def fail(msg):
    print("check_latencyfs: FAIL: " + msg)
    sys.exit(1)


def expect(cond, msg):
    if not cond:
        fail(msg)


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("latencyfs")
    ap.add_argument("--files", type=int, default=0,
                    help="files in the large tree (default: RLIMIT_NOFILE + 5000)")
    ap.add_argument("--mode", default="lowlevel")
    args = ap.parse_args()
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    files = args.files or min(limit, 1 << 20) + 5000
    work = tempfile.mkdtemp(prefix="latencyfs-check-")
    back, mnt = os.path.join(work, "back"), os.path.join(work, "mnt")
    os.makedirs(back)
    os.makedirs(mnt)
    p = subprocess.Popen([args.latencyfs, back, mnt, "--mode", args.mode, "--latency-us", "0",
                          "--bw-mbps", "0"], stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if os.path.ismount(mnt):
                break
            time.sleep(0.05)
        expect(os.path.ismount(mnt), "did not mount")
        check_names(back, mnt)
        check_many(back, mnt, files, p.pid)
        print("check_latencyfs: ok (%d files, mode %s, peak fds checked)" % (files, args.mode))
    finally:
        subprocess.run(["fusermount3", "-u", mnt], check=False)
        p.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def check_names(back, mnt):
    m = lambda *x: os.path.join(mnt, *x)  # noqa: E731
    b = lambda *x: os.path.join(back, *x)  # noqa: E731
    os.makedirs(m("d1", "d2"))
    with open(m("d1", "a"), "w") as f:
        f.write("alpha")
    st = os.stat(m("d1", "a"))
    os.utime(m("d1", "a"), ns=(st.st_atime_ns, 1_000_000_123))
    expect(os.stat(b("d1", "a")).st_mtime_ns == 1_000_000_123, "utimensat did not reach the backing file")
    os.chmod(m("d1", "a"), 0o640)
    expect(os.stat(b("d1", "a")).st_mode & 0o777 == 0o640, "chmod did not reach the backing file")
    # rename a file, then a directory holding it: the file is still reachable
    os.rename(m("d1", "a"), m("d1", "d2", "b"))
    os.rename(m("d1", "d2"), m("d3"))
    with open(m("d3", "b")) as f:
        expect(f.read() == "alpha", "renamed file lost its content")
    expect(os.stat(m("d3", "b")).st_size == 5, "stat after directory rename")
    os.truncate(m("d3", "b"), 2)
    expect(os.stat(b("d3", "b")).st_size == 2, "truncate after directory rename")
    # replace by rename: the name shows the new file, the old handle the old one
    with open(m("d3", "new"), "w") as f:
        f.write("newer")
    old = open(m("d3", "b"))
    os.rename(m("d3", "new"), m("d3", "b"))
    expect(os.fstat(old.fileno()).st_size == 2, "fstat of a replaced file's open handle")
    old.close()
    with open(m("d3", "b")) as f:
        expect(f.read() == "newer", "rename over a file")
    # hard link, then unlink the first name: the second still works
    os.link(m("d3", "b"), m("d1", "c"))
    expect(os.stat(m("d1", "c")).st_nlink == 2, "hard link count")
    os.unlink(m("d3", "b"))
    os.chmod(m("d1", "c"), 0o600)
    expect(os.stat(b("d1", "c")).st_mode & 0o777 == 0o600, "chmod through the remaining link")
    os.symlink("d1/c", m("ln"))
    expect(os.readlink(m("ln")) == "d1/c", "readlink")
    expect(os.lstat(b("ln")).st_mtime_ns == os.lstat(m("ln")).st_mtime_ns, "symlink attributes")


def check_many(back, mnt, files, pid):
    per_dir = 2000
    peak = 0
    for i in range(files):
        d = os.path.join(mnt, "many", "d%03d" % (i // per_dir))
        if i % per_dir == 0:
            os.makedirs(d)
        with open(os.path.join(d, "f%05d" % i), "wb") as f:
            f.write(b"x" * (i % 7))
        if i % 1000 == 0:
            peak = max(peak, open_fds(pid))
    seen = 0
    for root, _, names in os.walk(os.path.join(mnt, "many")):
        for n in names:
            st = os.lstat(os.path.join(root, n))
            expect(st.st_size == int(n[1:]) % 7, "size of " + n)
            seen += 1
        peak = max(peak, open_fds(pid))
    expect(seen == files, "listed %d of %d files" % (seen, files))
    backing = sum(len(n) for _, _, n in os.walk(os.path.join(back, "many")))
    expect(backing == files, "backing holds %d of %d files" % (backing, files))
    expect(peak < 1000, "latencyfs held %d descriptors for %d files" % (peak, files))


if __name__ == "__main__":
    main()

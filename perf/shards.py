#!/usr/bin/env python3
"""One pair over many pods, on this machine: the same photos tree synced by 1, 2
and 4 shards (`ha-sync --shard I/N`, docs/cli.md "Shards") through the NFS-like
FUSE mount (latencyfs, perf/README.md), processes standing in for pods.

Each shard gets its own pair of latencyfs mounts over the same two backing
directories, as each pod is its own NFS client. For every N: dest emptied (in
the backing directory, not through FUSE), caches dropped when root, the N
shards started at once, the wall time until the last one ends taken, and dest
compared with src (names, types, sizes, content, file mtimes to the ns).

  python3 perf/shards.py [--files 20000] [--latency-us 300] [--shards 1,2,4]
                         [--ha-sync build-release/src/ha-sync]
                         [--latencyfs build-release/perf/latencyfs] [--work DIR]

--scenario huge: a tree of --files tiny files (1,000,000 by default) in
--top-dirs top-level directories, copied once outside the mounts (cp -a, then
one local ha-sync run for the sync state), then per N through the mounts: a
no-op run and an incremental run after --change-percent of the files were
rewritten in src. This is the nightly run of a huge pair; an initial copy
of a million files through the emulator would take hours here.

Prints a table and writes perf/results/shards-<UTC time>.{json,md}. Nothing
here runs in `meson test`.
"""

import argparse
import datetime
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(msg):
    print("[shards] " + msg, file=sys.stderr, flush=True)


def tree_facts(root):
    """Path -> (type, size, mtime_ns, md5) of everything under root."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".ha-sync")]
        for name in filenames:
            if name.startswith(".ha-sync"):
                continue
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            with open(p, "rb") as f:
                digest = hashlib.md5(f.read()).hexdigest()
            out[os.path.relpath(p, root)] = ("f", st.st_size, st.st_mtime_ns, digest)
        for name in dirnames:
            out[os.path.relpath(os.path.join(dirpath, name), root)] = ("d",)
    return out


def raise_nofile():
    """latencyfs keeps a descriptor per inode the kernel holds: one mount of the
    whole tree needs more than a shell's usual hard limit (EMFILE, which the
    client then sees). Root may raise it."""
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1 << 20, 1 << 20))
    except (ValueError, OSError):
        pass


class Mounts:
    """latencyfs mounts of the src and dest backing directories, one pair per shard."""

    def __init__(self, args, work):
        self.args, self.work, self.procs = args, work, []

    def mount(self, backing, mountpoint):
        os.makedirs(mountpoint, exist_ok=True)
        cmd = [self.args.latencyfs, backing, mountpoint, "--latency-us", str(self.args.latency_us),
               "--threads", str(self.args.fuse_threads)]
        # Its messages (and a sanitizer's report, with a sanitized build) are
        # kept beside the mount point.
        with open(mountpoint.rstrip("/") + ".log", "a") as log_file:
            p = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, preexec_fn=raise_nofile)
        self.procs.append((p, mountpoint))
        for _ in range(200):
            if os.path.ismount(mountpoint):
                return
            time.sleep(0.05)
        raise RuntimeError("latencyfs did not mount at " + mountpoint)

    def unmount_all(self):
        for p, mp in self.procs:
            subprocess.run(["fusermount3", "-u", mp], check=False)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            if p.returncode != 0:
                log("latencyfs at %s ended with %d (see %s.log)" % (mp, p.returncode, mp.rstrip("/")))
        self.procs = []


def drop_caches():
    if os.geteuid() != 0:
        return False
    subprocess.run(["sync"], check=False)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")
    return True


def run_shards(args, work, n, src_backing, dest_backing, mounts):
    """The initial copy by N shards into an emptied dest."""
    shutil.rmtree(dest_backing, ignore_errors=True)
    os.makedirs(dest_backing)
    log_dir = os.path.join(work, "log-%d" % n)
    shutil.rmtree(log_dir, ignore_errors=True)
    r = run_group(args, work, n, src_backing, dest_backing, mounts, log_dir, "initial")
    r["shards"] = n
    return r


def make_huge_tree(root, files, top_dirs, per_dir=500):
    """`files` files of 64 bytes, `per_dir` to a directory, spread over
    `top_dirs` top-level directories (the unit a shard owns)."""
    tmp = root + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    base_ns = 1_700_000_000 * 10**9
    made = 0
    d = 0
    while made < files:
        path = os.path.join(tmp, "top%03d" % (d % top_dirs), "d%05d" % d)
        os.makedirs(path)
        for i in range(min(per_dir, files - made)):
            name = os.path.join(path, "f%04d" % i)
            fd = os.open(name, os.O_WRONLY | os.O_CREAT, 0o644)
            os.write(fd, ("%063d\n" % made).encode())
            os.close(fd)
            os.utime(name, ns=(base_ns, base_ns + made))
            made += 1
        d += 1
    os.rename(tmp, root)


def rewrite_share(root, percent, generation):
    """Rewrites every (100/percent)-th file in place: new content and mtime."""
    step = max(1, int(round(100 / percent)))
    n = 0
    # An hour ago (a future mtime would be left alone as still settling).
    mtime = (int(time.time()) - 3600 + generation) * 10**9
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for k, name in enumerate(sorted(filenames)):
            if (n + k) % step == 0:
                p = os.path.join(dirpath, name)
                with open(p, "r+b") as f:
                    f.write(("gen%060d\n" % generation).encode())
                os.utime(p, ns=(mtime, mtime))
        n += len(filenames)


def run_group(args, work, n, src_backing, dest_backing, mounts, log_dir, label):
    """N shards at once through fresh mounts; the wall time until the last ends."""
    points = []
    for i in range(n):
        s = os.path.join(work, "mnt", "%d-of-%d" % (i, n))
        mounts.mount(src_backing, os.path.join(s, "src"))
        mounts.mount(dest_backing, os.path.join(s, "dest"))
        points.append(s)
    cold = drop_caches()
    started = time.monotonic()
    procs = []
    for i, s in enumerate(points):
        cmd = [args.ha_sync, "--src", os.path.join(s, "src"), "--dest", os.path.join(s, "dest"),
               "--pair", "perf", "--log-dir", log_dir, "--workers", str(args.workers), "--no-progress"]
        if n > 1:
            cmd += ["--shard", "%d/%d" % (i, n), "--run-group", "perf-%d-%s" % (n, label)]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      preexec_fn=raise_nofile))
    ends, codes, summaries = [], [], []
    for p in procs:
        out, err = p.communicate()
        ends.append(time.monotonic() - started)
        codes.append(p.returncode)
        summaries.append(out.strip().splitlines()[-1] if out.strip() else "")
        if p.returncode != 0:
            log("shard failed (%d): %s %s" % (p.returncode, out[-300:], err[-300:]))
    wall = time.monotonic() - started
    mounts.unmount_all()
    return {"wall_seconds": round(wall, 2), "shard_seconds": sorted(round(e, 2) for e in ends),
            "exit_codes": codes, "cold": cold, "summaries": summaries}


def huge(args, work, mounts):
    src_backing = os.path.join(work, "huge-src-%d" % args.files)
    dest_backing = os.path.join(work, "huge-dest")
    log_dir = os.path.join(work, "huge-log")
    if not os.path.isdir(src_backing):
        log("generating %d files in %s" % (args.files, src_backing))
        make_huge_tree(src_backing, args.files, args.top_dirs)
    shutil.rmtree(dest_backing, ignore_errors=True)
    shutil.rmtree(log_dir, ignore_errors=True)
    log("seeding dest (cp -a) and the sync state (one local run)")
    subprocess.run(["cp", "-a", src_backing, dest_backing], check=True)
    subprocess.run([args.ha_sync, "--src", src_backing, "--dest", dest_backing, "--pair", "perf",
                    "--log-dir", log_dir, "--workers", str(args.workers), "--no-progress"], check=True,
                   stdout=subprocess.DEVNULL, preexec_fn=raise_nofile)
    results = []
    for generation, n in enumerate([int(x) for x in args.shards.split(",")], start=1):
        log("%d shard(s): no-op" % n)
        noop = run_group(args, work, n, src_backing, dest_backing, mounts, log_dir, "noop")
        rewrite_share(src_backing, args.change_percent, generation)
        log("%d shard(s): incremental" % n)
        inc = run_group(args, work, n, src_backing, dest_backing, mounts, log_dir, "inc")
        identical = tree_facts(dest_backing) == tree_facts(src_backing)
        r = {"shards": n, "noop": noop, "incremental": inc, "identical": identical}
        results.append(r)
        log(json.dumps(r))
    base_noop = results[0]["noop"]["wall_seconds"]
    base_inc = results[0]["incremental"]["wall_seconds"]
    lines = ["| shards | no-op s | speed-up | incremental s | speed-up | dest == src |",
             "|---|---|---|---|---|---|"]
    for r in results:
        lines.append("| %d | %.1f | %.2fx | %.1f | %.2fx | %s |" % (
            r["shards"], r["noop"]["wall_seconds"], base_noop / r["noop"]["wall_seconds"],
            r["incremental"]["wall_seconds"], base_inc / r["incremental"]["wall_seconds"],
            "yes" if r["identical"] else "NO"))
    head = ("%d files of 64 bytes in %d top-level directories (500 to a directory), synced before; per N "
            "a no-op run, then an incremental run after %g %% of the files were rewritten in src; "
            "latencyfs at %d us per round trip, one src and one dest mount per shard, --workers %d per "
            "shard, caches %s.\n\n" % (args.files, args.top_dirs, args.change_percent, args.latency_us,
                                         args.workers, "dropped" if results[0]["noop"]["cold"] else "warm (not root)"))
    ok = all(r["identical"] and not any(r["noop"]["exit_codes"] + r["incremental"]["exit_codes"])
             for r in results)
    return head + "\n".join(lines) + "\n", results, ok


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", type=int, default=20000)
    p.add_argument("--latency-us", type=int, default=300)
    p.add_argument("--shards", default="1,2,4")
    p.add_argument("--workers", type=int, default=16, help="--workers of each shard (the CronJobs use 16)")
    p.add_argument("--fuse-threads", type=int, default=32)
    p.add_argument("--ha-sync", default=os.path.join(REPO, "build-release", "src", "ha-sync"))
    p.add_argument("--latencyfs", default=os.path.join(REPO, "build-release", "perf", "latencyfs"))
    p.add_argument("--work", default="/var/tmp/ha-sync-perf-shards")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--scenario", choices=["initial", "huge"], default="initial")
    p.add_argument("--top-dirs", type=int, default=64, help="huge: top-level directories")
    p.add_argument("--change-percent", type=float, default=1.0, help="huge: files rewritten before the incremental run")
    args = p.parse_args(argv)
    if args.scenario == "huge" and "--files" not in " ".join(argv):
        args.files = 1_000_000
    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    if args.scenario == "huge":
        mounts = Mounts(args, work)
        try:
            md, results, ok = huge(args, work, mounts)
        finally:
            mounts.unmount_all()
        print(md)
        write_results(args, results, md, "shards-huge")
        return 0 if ok else 1
    src_backing = os.path.join(work, "src-%d" % args.files)
    dest_backing = os.path.join(work, "dest")
    if not os.path.isdir(src_backing):
        log("generating %d photos in %s" % (args.files, src_backing))
        subprocess.run([sys.executable, os.path.join(REPO, "perf", "gen_dataset.py"), "photos", src_backing,
                        "--files", str(args.files), "--seed", str(args.seed)], check=True,
                       stdout=subprocess.DEVNULL)
    want = tree_facts(src_backing)
    mounts = Mounts(args, work)
    results = []
    try:
        for n in [int(x) for x in args.shards.split(",")]:
            log("%d shard(s)" % n)
            r = run_shards(args, work, n, src_backing, dest_backing, mounts)
            r["identical"] = tree_facts(dest_backing) == want
            results.append(r)
            log(json.dumps(r))
    finally:
        mounts.unmount_all()
    base = results[0]["wall_seconds"]
    lines = ["| shards | wall s | speed-up | each shard's end (s) | dest == src |", "|---|---|---|---|---|"]
    for r in results:
        lines.append("| %d | %.2f | %.2fx | %s | %s |" % (
            r["shards"], r["wall_seconds"], base / r["wall_seconds"],
            ", ".join("%.1f" % e for e in r["shard_seconds"]), "yes" if r["identical"] else "NO"))
    head = ("Initial copy of %d photos (perf/gen_dataset.py, seed %d) through latencyfs at %d us per round "
            "trip, one src and one dest mount per shard, --workers %d per shard, caches %s.\n\n" % (
                args.files, args.seed, args.latency_us, args.workers,
                "dropped" if results[0]["cold"] else "warm (not root)"))
    md = head + "\n".join(lines) + "\n"
    print(md)
    write_results(args, results, md, "shards")
    return 0 if all(r["identical"] and not any(r["exit_codes"]) for r in results) else 1


def write_results(args, results, md, prefix):
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
    os.makedirs(os.path.join(REPO, "perf", "results"), exist_ok=True)
    with open(os.path.join(REPO, "perf", "results", "%s-%s.json" % (prefix, when)), "w") as f:
        json.dump({"args": vars(args), "results": results}, f, indent=1)
    with open(os.path.join(REPO, "perf", "results", "%s-%s.md" % (prefix, when)), "w") as f:
        f.write(md)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

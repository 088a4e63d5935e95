#!/usr/bin/env python3
"""ha-sync perf harness: ha-sync against rsync, rclone and cp -a, side by side in one run.

What it does, in order:
  1. makes a loop-mounted, journaled ext4 image for all data (timing on the root
     filesystem of these machines is unreliable); --no-loop uses --work as is
  2. measures the machine's sequential limits with fio on that filesystem
  3. generates the deterministic datasets (gen_dataset.py), reused when unchanged
  4. runs each scenario: per run, every competitor once, in rotated order, cold cache
     (sync + drop_caches before each timed command) and/or warm
  5. verifies every ha-sync result (content + mode + mtime to the ns, files and
     directories) and competitor results (names, types, sizes, file mtimes)
  6. writes perf/results/<stamp>.json and .md and the latest table into perf/README.md

Must run as root for the loop mount and cache drops (without root: --no-loop,
and cold runs are reported as not cold). See perf/README.md for the presets.
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
GEN = os.path.join(HERE, "gen_dataset.py")

# ----------------------------------------------------------------------------- helpers


def log(msg):
    print("[perf %s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def sh(cmd, check=True, capture=False):
    r = subprocess.run(cmd, shell=isinstance(cmd, str), check=False,
                       stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.STDOUT if capture else None, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("command failed (%d): %s\n%s" % (r.returncode, cmd, r.stdout or ""))
    return r.stdout if capture else r.returncode


def is_root():
    return os.geteuid() == 0


def drop_caches():
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def rm_tree(path):
    if os.path.lexists(path):
        shutil.rmtree(path)


TIME_BIN = "/usr/bin/time"


def timed(cmd, out_path):
    """Runs cmd (argv list); returns wall s, CPU s (user+sys, children included), peak RSS KiB.

    The command runs under GNU time rather than straight from here: a forked child
    inherits this interpreter's RSS high-water mark across exec, which would put a
    floor of ~20 MiB under every tool's peak RSS.
    """
    rusage_path = out_path + ".rusage"
    use_time = os.access(TIME_BIN, os.X_OK)
    argv = ([TIME_BIN, "-o", rusage_path, "-f", "%M %U %S %x"] + cmd) if use_time else cmd
    with open(out_path, "w") as out:
        t0 = time.monotonic()
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.monotonic() - t0
    rc = os.waitstatus_to_exitcode(status)
    maxrss, user, system = ru.ru_maxrss, ru.ru_utime, ru.ru_stime
    if use_time:
        with open(rusage_path) as f:
            last = f.read().split("\n")
        fields = [l for l in last if l.strip()][-1].split()
        maxrss, user, system = int(fields[0]), float(fields[1]), float(fields[2])
        if len(fields) > 3:
            rc = int(fields[3])
    with open(out_path, errors="replace") as f:
        text = f.read()
    return {
        "wall_s": wall,
        "cpu_s": user + system,
        "user_s": user,
        "sys_s": system,
        "maxrss_kib": maxrss,
        "rc": rc,
        "output_tail": text[-2000:],
    }


def read_all(root):
    """Reads every file under root (warms the page cache)."""
    n = 0
    buf = bytearray(1 << 20)
    for dirpath, _, files in os.walk(root):
        for f in files:
            with open(os.path.join(dirpath, f), "rb", buffering=0) as fh:
                while fh.readinto(buf):
                    pass
            n += 1
    return n


# ----------------------------------------------------------------------------- verification


def compare_trees(src, dest, content=True, dir_times=True, modes=True, sample_every=1, limit=10):
    """Compares two trees. Returns a list of differences (empty = equal)."""
    diffs = []

    def note(msg):
        if len(diffs) < limit:
            diffs.append(msg)
        elif len(diffs) == limit:
            diffs.append("...")

    def same_bytes(a, b):
        with open(a, "rb", buffering=0) as fa, open(b, "rb", buffering=0) as fb:
            while True:
                x = fa.read(1 << 20)
                y = fb.read(1 << 20)
                if x != y:
                    return False
                if not x:
                    return True

    counter = [0]

    def walk(rel):
        s_dir = os.path.join(src, rel) if rel else src
        d_dir = os.path.join(dest, rel) if rel else dest
        s_names = sorted(os.listdir(s_dir))
        d_names = sorted(os.listdir(d_dir))
        if not rel and ".ha-sync-trash" not in s_names:
            # ha-sync's own trash folder at the dest root (never synced).
            d_names = [n for n in d_names if n != ".ha-sync-trash"]
        if s_names != d_names:
            missing = sorted(set(s_names) - set(d_names))[:3]
            extra = sorted(set(d_names) - set(s_names))[:3]
            note("%s/: names differ (missing %s, extra %s)" % (rel or ".", missing, extra))
        for name in s_names:
            if name not in d_names:
                continue
            r = os.path.join(rel, name) if rel else name
            a, b = os.lstat(os.path.join(src, r)), os.lstat(os.path.join(dest, r))
            ta, tb = a.st_mode & 0o170000, b.st_mode & 0o170000
            if ta != tb:
                note("%s: type differs" % r)
                continue
            if ta == 0o040000:
                walk(r)
                if dir_times and a.st_mtime_ns != b.st_mtime_ns:
                    note("%s/: dir mtime %d != %d" % (r, a.st_mtime_ns, b.st_mtime_ns))
                continue
            if modes and (a.st_mode & 0o7777) != (b.st_mode & 0o7777):
                note("%s: mode %o != %o" % (r, a.st_mode & 0o7777, b.st_mode & 0o7777))
            if a.st_mtime_ns != b.st_mtime_ns:
                note("%s: mtime %d != %d" % (r, a.st_mtime_ns, b.st_mtime_ns))
            if ta == 0o120000:
                if os.readlink(os.path.join(src, r)) != os.readlink(os.path.join(dest, r)):
                    note("%s: link target differs" % r)
            elif a.st_size != b.st_size:
                note("%s: size %d != %d" % (r, a.st_size, b.st_size))
            elif content and ta == 0o100000:
                counter[0] += 1
                if counter[0] % sample_every == 0 and not same_bytes(os.path.join(src, r),
                                                                     os.path.join(dest, r)):
                    note("%s: content differs" % r)

    walk("")
    if dir_times:
        a, b = os.lstat(src), os.lstat(dest)
        if a.st_mtime_ns != b.st_mtime_ns:
            note("./: root dir mtime %d != %d" % (a.st_mtime_ns, b.st_mtime_ns))
    return diffs


# ----------------------------------------------------------------------------- competitors


def hasync_variants(binary, extra):
    """ha-sync variants: both io engines once --io-engine exists, else two worker counts."""
    if extra:
        out = []
        for spec in extra:
            name, _, args = spec.partition("=")
            out.append((name, shlex.split(args)))
        return out
    help_text = subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
    if "--io-engine" in help_text:
        return [("ha-sync uring", ["--io-engine=uring"]), ("ha-sync threads", ["--io-engine=threads"])]
    return [("ha-sync", []), ("ha-sync -w16", ["--workers", "16"])]


def competitors(kind, args, variants, log_dir, hasync_only=False):
    """[(name, argv builder(src, dest), is_hasync)] for one scenario kind."""
    delete = kind != "initial"
    out = []
    for name, vargs in variants:
        def build(src, dest, vargs=vargs):
            cmd = [args.ha_sync, "--src", src, "--dest", dest, "--pair", "perf",
                   "--log-dir", log_dir, "--no-progress"] + vargs
            return cmd + (["--delete-missing"] if delete else [])
        out.append((name, build, True))
    if hasync_only:
        return out
    if kind == "initial":
        out.append(("cp -a", lambda s, d: ["cp", "-a", s + "/.", d + "/"], False))
    out.append(("rsync -a --delete" if delete else "rsync -a",
                lambda s, d: ["rsync", "-a"] + (["--delete"] if delete else []) + [s + "/", d + "/"], False))
    rc = ["rclone", "--config", "/dev/null", "sync"]
    out.append(("rclone sync", lambda s, d: rc + [s, d], False))
    out.append(("rclone sync --transfers 16", lambda s, d: rc + ["--transfers", "16", s, d], False))
    return out


# ----------------------------------------------------------------------------- setup


class Workspace:
    def __init__(self, args):
        self.args = args
        self.work = os.path.abspath(args.work)
        self.image = os.path.join(self.work, "perf.img")
        self.mnt = os.path.join(self.work, "mnt") if not args.no_loop else self.work
        self.fuse_procs = []
        self.fuse_stats = {}  # mountpoint -> (process, --stats file)
        self.fs_kind = "as found"

    def mount(self):
        os.makedirs(self.work, exist_ok=True)
        if self.args.no_loop:
            self.fs_kind = sh(["stat", "-f", "-c", "%T", self.work], capture=True).strip() + " (no loop)"
            return
        os.makedirs(self.mnt, exist_ok=True)
        if not os.path.ismount(self.mnt):
            if not os.path.exists(self.image):
                log("creating a %d GiB ext4 image (journaled) at %s" % (self.args.image_gib, self.image))
                with open(self.image, "wb") as f:
                    f.truncate(self.args.image_gib << 30)
                sh(["mkfs.ext4", "-q", "-F", "-i", "8192", self.image])
            sh(["mount", "-o", "loop,noatime", self.image, self.mnt])
        self.fs_kind = "ext4 (journaled) in a loop-mounted image, noatime"

    def unmount(self):
        self.stop_fuse()
        if not self.args.no_loop and not self.args.keep and os.path.ismount(self.mnt):
            sh(["umount", self.mnt], check=False)
            os.unlink(self.image)

    def path(self, *parts):
        return os.path.join(self.mnt, *parts)

    def start_fuse(self, backing, mountpoint):
        os.makedirs(mountpoint, exist_ok=True)
        os.makedirs(backing, exist_ok=True)
        if os.path.ismount(mountpoint):
            sh(["fusermount3", "-u", mountpoint], check=False)
        stats = mountpoint + ".stats.json"
        if os.path.exists(stats):
            os.unlink(stats)
        cmd = [self.args.latencyfs, backing, mountpoint, "--mode", self.args.fuse_mode,
               "--latency-us", str(self.args.fuse_latency_us), "--threads", str(self.args.fuse_threads),
               "--bw-mbps", str(self.args.fuse_bw_mbps), "--stats", stats]
        if not self.args.fuse_plus:
            cmd += ["--no-readdirplus"]
        if not self.args.fuse_cto:
            cmd += ["--no-close-to-open"]
        log("mounting latency FUSE: %s" % " ".join(cmd))
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.fuse_procs.append((p, mountpoint))
        self.fuse_stats[mountpoint] = (p, stats)
        for _ in range(100):
            if os.path.ismount(mountpoint):
                return
            time.sleep(0.05)
        raise RuntimeError("latency FUSE did not mount at %s" % mountpoint)

    def stop_fuse(self):
        for p, mp in self.fuse_procs:
            sh(["fusermount3", "-u", mp], check=False)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL)
                p.wait()
        self.fuse_procs = []
        self.fuse_stats = {}

    def fuse_counts(self, mountpoint):
        """latencyfs's request counters of one mount now (SIGUSR1 makes it write them)."""
        p, stats = self.fuse_stats[mountpoint]

        def seq():
            try:
                with open(stats) as f:
                    return json.load(f)
            except (OSError, ValueError):
                return None
        before = seq()
        p.send_signal(signal.SIGUSR1)
        for _ in range(200):
            now = seq()
            if now is not None and (before is None or now["seq"] != before["seq"]):
                return now
            time.sleep(0.01)
        raise RuntimeError("latencyfs at %s did not write %s" % (mountpoint, stats))


def count_delta(before, after):
    """Requests between two latencyfs snapshots: per kind, total, extra round trips."""
    req = {k: after["requests"][k] - before["requests"].get(k, 0) for k in after["requests"]}
    extra = {k: after["extra_round_trips"][k] - before["extra_round_trips"].get(k, 0)
             for k in after["extra_round_trips"]}
    return {"requests": {k: v for k, v in req.items() if v}, "total": after["requests_total"] - before["requests_total"],
            "extra_round_trips": extra, "parallel_dirops": after.get("parallel_dirops"), "mode": after.get("mode")}


def fio_limits(ws, seconds):
    """Sequential limits of the data filesystem (MB/s = 10^6 B/s).

    The file is laid out first (a fresh image allocates on the first write),
    and caches are dropped before every job: the loop device's backing file
    sits in the host page cache, so even O_DIRECT reads of a just-written
    file would be served from memory.
    """
    d = ws.path("fio")
    os.makedirs(d, exist_ok=True)
    f = os.path.join(d, "fio.dat")
    common = ["fio", "--output-format=json", "--filename=" + f, "--size=2G", "--bs=1M",
              "--ioengine=libaio", "--group_reporting"]
    jobs = [
        ("layout", ["--name=layout", "--rw=write", "--direct=1", "--iodepth=16"]),
        ("write_direct", ["--name=w", "--rw=write", "--direct=1", "--iodepth=16", "--runtime=%d" % seconds]),
        ("read_direct", ["--name=r", "--rw=read", "--direct=1", "--iodepth=16", "--runtime=%d" % seconds]),
        ("read_buffered_cold_1job", ["--name=rb", "--rw=read", "--direct=0", "--iodepth=1",
                                     "--runtime=%d" % seconds]),
    ]
    out = {}
    for name, extra in jobs:
        drop_caches()
        try:
            j = json.loads(sh(common + extra, capture=True))
            job = j["jobs"][0]
            bw = job["read"]["bw_bytes"] or job["write"]["bw_bytes"]
            if name != "layout":
                out[name] = round(bw / 1e6, 1)
        except (RuntimeError, ValueError, KeyError) as e:
            out[name] = None
            log("fio %s failed: %s" % (name, e))
    os.unlink(f)
    rd = max(v for v in (out.get("read_direct"), out.get("read_buffered_cold_1job"), 0) if v is not None)
    wr = out.get("write_direct") or 0
    out["copy_limit"] = min(rd, wr) if rd and wr else None
    return out


def ensure_dataset(ws, name, spec):
    """Generates dataset `name` unless a matching one exists. Returns its info."""
    root = ws.path("data", name)
    stamp = ws.path("data", name + ".json")
    if os.path.exists(stamp):
        with open(stamp) as f:
            info = json.load(f)
        if info.get("spec") == spec and os.path.isdir(root):
            return info
    rm_tree(root)
    log("generating dataset %s %s" % (name, spec))
    t0 = time.monotonic()
    if spec["kind"] == "mutated":
        base = ws.path("data", spec["base"])
        sh(["cp", "-a", base, root])
        out = sh([sys.executable, GEN, "mutate", root, "--seed", str(spec["seed"])], capture=True)
    else:
        cmd = [sys.executable, GEN, spec["kind"], root, "--seed", str(spec["seed"])]
        if "files" in spec:
            cmd += ["--files", str(spec["files"])]
        if "count" in spec:
            cmd += ["--count", str(spec["count"]), "--size-mib", str(spec["size_mib"])]
        out = sh(cmd, capture=True)
    info = json.loads(out.strip().splitlines()[-1])
    info["spec"] = spec
    info["generate_s"] = round(time.monotonic() - t0, 1)
    with open(stamp, "w") as f:
        json.dump(info, f)
    os.sync()
    return info


# ----------------------------------------------------------------------------- scenarios

SCENARIOS = {
    # name: (dataset, kind, through_fuse, hasync_only)
    "photos-initial": ("photos", "initial", False, False),
    "photos-noop": ("photos", "noop", False, False),
    "photos-incremental": ("photos", "incremental", False, False),
    "media-initial": ("media", "initial", False, False),
    "small-initial": ("small", "initial", False, True),
    "small-noop": ("small", "noop", False, True),
    "fuse-photos-initial": ("fphotos", "initial", True, False),
    "fuse-photos-noop": ("fphotos", "noop", True, False),
    "fuse-photos-incremental": ("fphotos", "incremental", True, False),
}


def run_scenario(ws, args, name, cache, variants, datasets):
    dataset, kind, fuse, hasync_only = SCENARIOS[name]
    base_src = ws.path("data", dataset if kind != "incremental" else dataset + "-mut")
    original = ws.path("data", dataset)
    base_dest = ws.path("dest", name)
    if fuse:
        src = os.path.join(ws.path("fuse-src"), os.path.relpath(base_src, ws.path("data")))
        dest = os.path.join(ws.path("fuse-dest"), name)
    else:
        src, dest = base_src, base_dest
    log_dir = ws.path("scratch", "logs")
    tools = competitors(kind, args, variants, log_dir, hasync_only)
    runs = args.small_runs if dataset == "small" else args.runs
    info = datasets[dataset]
    bytes_moved = {"initial": info["bytes"], "noop": 0,
                   "incremental": None}[kind]
    results = {t[0]: [] for t in tools}
    log("scenario %s (%s cache): %d runs x %d tools, src %s" % (name, cache, runs, len(tools), src))

    def prepare():
        if kind == "initial":
            rm_tree(base_dest)
            os.makedirs(base_dest)
        elif kind == "noop":
            if not os.path.isdir(base_dest) or prepare.dirty:
                rm_tree(base_dest)
                sh(["cp", "-a", original, base_dest])
                prepare.dirty = False
        else:  # incremental: dest back to the original tree
            if not os.path.isdir(base_dest):
                sh(["cp", "-a", original, base_dest])
            else:
                sh(["rsync", "-a", "--delete", original + "/", base_dest + "/"])
    prepare.dirty = False

    if cache == "warm":
        prepare()
        read_all(base_src)
        if kind != "initial":
            read_all(base_dest)
    for r in range(runs):
        order = tools[r % len(tools):] + tools[:r % len(tools)]
        for tool_name, build, is_hasync in order:
            prepare()
            rm_tree(log_dir)
            os.makedirs(log_dir)
            cold = drop_caches() if cache == "cold" else (os.sync() or False)
            if fuse:
                counts0 = {side: ws.fuse_counts(ws.path(mp)) for side, mp in FUSE_SIDES}
            res = timed(build(src, dest), ws.path("scratch", "out.txt"))
            res["cold"] = cold
            os.sync()
            if fuse:
                time.sleep(0.2)  # RELEASEs the kernel sends after the process has gone
                res["fuse_requests"] = {side: count_delta(counts0[side], ws.fuse_counts(ws.path(mp)))
                                        for side, mp in FUSE_SIDES}
            summary = [l for l in res["output_tail"].splitlines() if l.startswith("ha-sync: perf")]
            res["summary"] = summary[-1] if summary else None
            if is_hasync:
                diffs = compare_trees(base_src, base_dest, content=True,
                                      sample_every=100 if dataset == "small" else 1)
                res["verify"] = "content+mtime" if not diffs else "FAILED"
            else:
                diffs = compare_trees(base_src, base_dest, content=False, dir_times=False, modes=False)
                res["verify"] = "meta" if not diffs else "FAILED"
            res["diffs"] = diffs
            if diffs or res["rc"] != 0:
                prepare.dirty = True
                log("  %s run %d: rc %d, %s %s" % (tool_name, r + 1, res["rc"], res["verify"], diffs[:3]))
                if res["rc"] != 0:
                    log("  output: %s" % res["output_tail"][-500:])
            del res["output_tail"]
            results[tool_name].append(res)
            log("  %-28s run %d: %7.2f s  cpu %6.2f s  rss %7.1f MiB  %s" % (
                tool_name, r + 1, res["wall_s"], res["cpu_s"], res["maxrss_kib"] / 1024, res["verify"]))
    if kind == "incremental":
        info_m = datasets[dataset + "-mut"]
        bytes_moved = info_m.get("changed_bytes")
    # Each scenario's dest is made anew by its next use: free the space now
    # (the full preset's outputs together outgrow the 40 GiB image).
    rm_tree(base_dest)
    return {"scenario": name, "cache": cache, "dataset": dataset, "kind": kind, "fuse": fuse,
            "bytes": bytes_moved, "runs": runs, "tools": summarize(results, info.get("files"))}


# The two latencyfs mounts of the FUSE scenarios: (side, mountpoint under the work dir).
FUSE_SIDES = (("dest", "fuse-dest"), ("src", "fuse-src"))


def per_file(runs, files):
    """Medians over the runs of latencyfs requests per file (issue 14's budget: dest ≤ 8)."""
    if not files or not all("fuse_requests" in r for r in runs):
        return None

    def med(f):
        return round(statistics.median(f(r["fuse_requests"]) for r in runs) / files, 2)
    return {
        "dest": med(lambda c: c["dest"]["total"]),
        "dest_getattr": med(lambda c: c["dest"]["requests"].get("GETATTR", 0)),
        "dest_setattr": med(lambda c: c["dest"]["requests"].get("SETATTR", 0)),
        "dest_lookup": med(lambda c: c["dest"]["requests"].get("LOOKUP", 0)),
        "src": med(lambda c: c["src"]["total"]),
    }


def summarize(results, files=None):
    out = []
    for tool, runs in results.items():
        walls = [r["wall_s"] for r in runs]
        out.append({
            "requests_per_file": per_file(runs, files),
            "tool": tool,
            "median_s": statistics.median(walls),
            "min_s": min(walls),
            "max_s": max(walls),
            "cpu_s_median": statistics.median(r["cpu_s"] for r in runs),
            "maxrss_mib": max(r["maxrss_kib"] for r in runs) / 1024,
            "all_ok": all(r["rc"] == 0 and r["verify"] != "FAILED" for r in runs),
            "verify": sorted({r["verify"] for r in runs}),
            "cold": all(r["cold"] for r in runs),
            "runs": runs,
        })
    return out


# ----------------------------------------------------------------------------- report


def ratio_base(tools):
    for t in tools:
        if t["tool"].startswith("rsync"):
            return t
    return None


def markdown(report):
    m = report["machine"]
    lines = []
    lines.append("Run %s, ha-sync %s; %s; kernel %s; %s; %d cores; %.0f GiB RAM." % (
        report["started"], report["hasync_commit"], m["fs"], m["kernel"], m["cpu"], m["cores"], m["mem_gib"]))
    f = report["fio"]
    if f:
        lines.append("")
        lines.append("fio on that filesystem (1 MiB blocks): direct write %s MB/s, direct read %s MB/s, "
                     "buffered cold read (1 job) %s MB/s; copy limit min(read, write) = %s MB/s." % (
                         f.get("write_direct"), f.get("read_direct"), f.get("read_buffered_cold_1job"),
                         f.get("copy_limit")))
    lines.append("")
    lines.append("Datasets: " + "; ".join(
        "%s %d files, %.1f MB" % (k, v.get("files", v.get("files_before", 0)), v.get("bytes", 0) / 1e6)
        for k, v in report["datasets"].items() if "bytes" in v))
    if report.get("fuse"):
        lines.append("")
        lines.append("FUSE scenarios go through two latency FUSE mounts (src and dest separate): %s." % report["fuse"])
    lines.append("")
    lines.append("Median of %s runs per tool, tools alternating within each run; time is wall clock, "
                 "CPU is user+sys of the process and its children, RSS is the peak of the largest process."
                 % report["runs"])
    for sc in report["scenarios"]:
        lines.append("")
        lines.append("### %s, %s cache%s" % (sc["scenario"], sc["cache"],
                                               "" if all(t["cold"] for t in sc["tools"]) or sc["cache"] == "warm"
                                               else " (caches could NOT be dropped)"))
        if sc.get("loadavg_1m"):
            lines.append("")
            lines.append("Machine load (1-min average) before/after: %s / %s." % tuple(sc["loadavg_1m"]))
        lines.append("")
        base = ratio_base(sc["tools"])
        counted = any(t.get("requests_per_file") for t in sc["tools"])
        hdr = "| tool | median s | min–max s | × rsync | MB/s | CPU s | peak RSS MiB | verified |"
        if counted:
            lines.append("Requests per file (latencyfs counters, median of the runs; FORGETs not counted): "
                         "dest total, its GETATTRs, SETATTRs and LOOKUPs, and src total. Budget (issue 14): "
                         "≤ 8 dest requests per small file.")
            lines.append("")
            hdr += " dest req/file | GETATTR/file | SETATTR/file | LOOKUP/file | src req/file |"
        lines.append(hdr)
        lines.append("|---|---:|---:|---:|---:|---:|---:|---|" + ("---:|" * 5 if counted else ""))
        for t in sorted(sc["tools"], key=lambda t: t["median_s"]):
            rel = "%.2f" % (t["median_s"] / base["median_s"]) if base else "–"
            mbs = "%.0f" % (sc["bytes"] / 1e6 / t["median_s"]) if sc.get("bytes") else "–"
            ok = ", ".join(t["verify"]) + ("" if t["all_ok"] else " **FAIL**")
            row = "| %s | %.2f | %.2f–%.2f | %s | %s | %.2f | %.1f | %s |" % (
                t["tool"], t["median_s"], t["min_s"], t["max_s"], rel, mbs, t["cpu_s_median"],
                t["maxrss_mib"], ok)
            if counted:
                q = t.get("requests_per_file") or {}
                row += "".join(" %s |" % q.get(k, "–") for k in
                               ("dest", "dest_getattr", "dest_setattr", "dest_lookup", "src"))
            lines.append(row)
    if report.get("targets"):
        lines.append("")
        lines.append("### Targets (issue 4), best ha-sync variant")
        lines.append("")
        lines.append("| target | measured | met |")
        lines.append("|---|---|---|")
        for t in report["targets"]:
            lines.append("| %s | %s | %s |" % (t["target"], t["measured"], "yes" if t["met"] else "**no**"))
    return "\n".join(lines) + "\n"


def targets(report):
    out = []
    by = {(s["scenario"], s["cache"]): s for s in report["scenarios"]}

    def best_hs(s):
        hs = [t for t in s["tools"] if t["tool"].startswith("ha-sync")]
        return min(hs, key=lambda t: t["median_s"]) if hs else None

    def tool(s, prefix):
        for t in s["tools"]:
            if t["tool"] == prefix:
                return t
        return None

    for cache in ("warm", "cold"):
        s = by.get(("photos-noop", cache))
        if s and best_hs(s) and ratio_base(s["tools"]):
            r = best_hs(s)["median_s"] / ratio_base(s["tools"])["median_s"]
            out.append({"target": "no-op re-sync ≤ 0.5 × rsync (%s)" % cache, "measured": "%.2f ×" % r, "met": r <= 0.5})
    s = by.get(("photos-initial", "cold"))
    if s and best_hs(s) and ratio_base(s["tools"]):
        h = best_hs(s)
        r = h["median_s"] / ratio_base(s["tools"])["median_s"]
        others = [t for t in s["tools"] if not t["tool"].startswith("ha-sync")]
        fastest = all(h["median_s"] < t["median_s"] for t in others)
        out.append({"target": "initial copy ≤ 0.5 × rsync and fastest (cold)",
                    "measured": "%.2f ×, %s" % (r, "fastest" if fastest else "not fastest"),
                    "met": r <= 0.5 and fastest})
    for cache in ("cold", "warm"):
        s = by.get(("media-initial", cache))
        if s and best_hs(s):
            h = best_hs(s)
            mbs = s["bytes"] / 1e6 / h["median_s"]
            lim = report["fio"].get("copy_limit") if report["fio"] else None
            cp = tool(s, "cp -a")
            if lim:
                out.append({"target": "large files within 10%% of the copy limit (%s)" % cache,
                            "measured": "%.0f of %.0f MB/s (%.0f%%)" % (mbs, lim, 100 * mbs / lim),
                            "met": mbs >= 0.9 * lim})
            if cp:
                r = h["median_s"] / cp["median_s"]
                out.append({"target": "large files ≤ 0.9 × cp -a (%s)" % cache, "measured": "%.2f ×" % r,
                            "met": r <= 0.9})
    for scen in ("fuse-photos-noop", "fuse-photos-initial"):
        for cache in ("cold", "warm"):
            s = by.get((scen, cache))
            if not s or not best_hs(s):
                continue
            h = best_hs(s)
            rs = ratio_base(s["tools"])
            rc = tool(s, "rclone sync --transfers 16")
            if rs:
                x = rs["median_s"] / h["median_s"]
                out.append({"target": "%s (%s): ≥ 10 × faster than rsync" % (scen, cache),
                            "measured": "%.1f ×" % x, "met": x >= 10})
            if rc:
                x = rc["median_s"] / h["median_s"]
                out.append({"target": "%s (%s): ≥ 3 × faster than rclone --transfers 16" % (scen, cache),
                            "measured": "%.1f ×" % x, "met": x >= 3})
    rss = {}
    for s in report["scenarios"]:
        for t in s["tools"]:
            if t["tool"].startswith("ha-sync"):
                files = report["datasets"][s["dataset"]].get("files", 0)
                rss[files] = max(rss.get(files, 0), t["maxrss_mib"])
    if rss:
        top = max(rss)
        out.append({"target": "peak RSS ≤ 128 MiB at the largest tree",
                    "measured": ", ".join("%.1f MiB at %d files" % (rss[k], k) for k in sorted(rss)),
                    "met": rss[top] <= 128})
    return out


def update_readme(path, md):
    begin, end = "<!-- latest-results:begin -->", "<!-- latest-results:end -->"
    with open(path) as f:
        text = f.read()
    if begin not in text or end not in text:
        text += "\n## Latest results\n\n%s\n%s\n" % (begin, end)
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    with open(path, "w") as f:
        f.write(head + begin + "\n" + md + end + tail)


def machine_info(ws):
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30)
    return {"kernel": platform.release(), "cpu": cpu, "cores": os.cpu_count(), "mem_gib": mem, "fs": ws.fs_kind}


def tool_versions():
    v = {}
    for name, cmd in (("rsync", ["rsync", "--version"]), ("rclone", ["rclone", "version"]),
                      ("cp", ["cp", "--version"]), ("fio", ["fio", "--version"])):
        try:
            v[name] = subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0]
        except (OSError, IndexError):
            v[name] = None
    return v


# ----------------------------------------------------------------------------- main

PRESETS = {
    # full-size datasets of issue 4
    "full": dict(photos_files=100_000, media_count=6, media_mib=1024, small_files=1_000_000,
                 fuse_files=100_000, runs=3),
    # scaled down to fit in ~15 minutes on a 2-core machine (20k photos, 6 x 128 MiB,
    # 200k small files, 2k files through FUSE)
    "quick": dict(photos_files=20_000, media_count=6, media_mib=128, small_files=200_000,
                  fuse_files=2_000, runs=3),
}


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="quick")
    p.add_argument("--work", default="/var/tmp/ha-sync-perf", help="scratch directory (image, mount)")
    p.add_argument("--image-gib", type=int, default=40)
    p.add_argument("--no-loop", action="store_true", help="use --work as is (no loop-mounted image)")
    p.add_argument("--keep", action="store_true", help="keep the image mounted (datasets are reused)")
    p.add_argument("--ha-sync", default=os.path.join(REPO, "build-release", "src", "ha-sync"))
    p.add_argument("--variant", action="append", default=[],
                   help="'name=ARGS' ha-sync variant to run (repeatable); default: both io engines")
    p.add_argument("--scenarios", default="photos-initial,photos-noop,photos-incremental,media-initial,"
                   "small-initial,small-noop,fuse-photos-initial,fuse-photos-noop")
    p.add_argument("--caches", default="cold,warm")
    p.add_argument("--fuse-caches", default="cold", help="cache modes of the FUSE scenarios")
    p.add_argument("--runs", type=int)
    p.add_argument("--small-runs", type=int, default=1)
    p.add_argument("--photos-files", type=int)
    p.add_argument("--media-count", type=int)
    p.add_argument("--media-mib", type=float)
    p.add_argument("--small-files", type=int)
    p.add_argument("--fuse-files", type=int)
    p.add_argument("--fuse-latency-us", type=int, default=300)
    p.add_argument("--fuse-bw-mbps", type=float, default=110,
                   help="bandwidth cap per mount and direction, MB/s (default 110, 1 GbE; 0: none)")
    p.add_argument("--fuse-mode", choices=("lowlevel", "highlevel"), default="lowlevel",
                   help="latencyfs front end (highlevel: the one of the figures before issue 14)")
    p.add_argument("--fuse-cto", action=argparse.BooleanOptionalAction, default=True,
                   help="NFS close-to-open costs: GETATTR round trip on OPEN, COMMIT after writes (default on)")
    p.add_argument("--fuse-threads", type=int, default=32)
    p.add_argument("--fuse-plus", action=argparse.BooleanOptionalAction, default=True,
                   help="READDIRPLUS-like attribute return (default on)")
    p.add_argument("--latencyfs", default=os.path.join(REPO, "build-release", "perf", "latencyfs"))
    p.add_argument("--fio-seconds", type=int, default=5)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    p.add_argument("--readme", default=os.path.join(HERE, "README.md"))
    p.add_argument("--no-readme", action="store_true")
    args = p.parse_args(argv)
    for k, v in PRESETS[args.preset].items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    args.ha_sync = os.path.abspath(args.ha_sync)
    if not os.access(args.ha_sync, os.X_OK):
        p.error("no ha-sync binary at %s (build it: meson setup build-release -Dbuildtype=release)" % args.ha_sync)
    scenarios = [s for s in args.scenarios.split(",") if s]
    for s in scenarios:
        if s not in SCENARIOS:
            p.error("unknown scenario %s (known: %s)" % (s, ", ".join(SCENARIOS)))
    uses_fuse = any(SCENARIOS[s][2] for s in scenarios)
    if uses_fuse and not os.access(args.latencyfs, os.X_OK):
        p.error("FUSE scenarios need %s (meson builds it when libfuse3-dev is installed)" % args.latencyfs)
    if not is_root() and not args.no_loop:
        p.error("run as root (loop mount, drop_caches) or pass --no-loop")

    started = datetime.datetime.now(datetime.timezone.utc)
    t_start = time.monotonic()
    ws = Workspace(args)
    ws.mount()
    try:
        for d in ("data", "dest", "scratch"):
            os.makedirs(ws.path(d), exist_ok=True)
        log("fio on %s" % ws.fs_kind)
        fio = fio_limits(ws, args.fio_seconds) if shutil.which("fio") else {}
        log("fio: %s" % fio)
        need = {SCENARIOS[s][0] for s in scenarios}
        if any(SCENARIOS[s][1] == "incremental" for s in scenarios):
            need |= {SCENARIOS[s][0] + "-mut" for s in scenarios if SCENARIOS[s][1] == "incremental"}
        specs = {
            "photos": {"kind": "photos", "files": args.photos_files, "seed": args.seed},
            "media": {"kind": "media", "count": args.media_count, "size_mib": args.media_mib, "seed": args.seed},
            "small": {"kind": "small", "files": args.small_files, "seed": args.seed},
            "fphotos": {"kind": "photos", "files": args.fuse_files, "seed": args.seed},
        }
        datasets = {}
        for name in sorted(need, key=lambda n: n.endswith("-mut")):
            if name.endswith("-mut"):
                spec = {"kind": "mutated", "base": name[:-4], "seed": args.seed,
                        "base_spec": specs[name[:-4]]}
            else:
                spec = specs[name]
            datasets[name] = ensure_dataset(ws, name, spec)
        variants = hasync_variants(args.ha_sync, args.variant)
        fuse_desc = None
        if uses_fuse:
            ws.start_fuse(ws.path("data"), ws.path("fuse-src"))
            ws.start_fuse(ws.path("dest"), ws.path("fuse-dest"))
            fuse_desc = "latencyfs --mode %s, %d µs per request, %s, %s, %s, %d server threads" % (
                args.fuse_mode, args.fuse_latency_us,
                "close-to-open costs on" if args.fuse_cto else "close-to-open costs off",
                "bandwidth cap %g MB/s per mount" % args.fuse_bw_mbps if args.fuse_bw_mbps else "no bandwidth cap",
                "READDIRPLUS on" if args.fuse_plus else "READDIRPLUS off", args.fuse_threads)
        results = []
        for s in scenarios:
            caches = [c for c in (args.fuse_caches if SCENARIOS[s][2] else args.caches).split(",") if c]
            if SCENARIOS[s][0] == "small":
                caches = ["cold"]
            for cache in caches:
                load_before = os.getloadavg()[0]
                results.append(run_scenario(ws, args, s, cache, variants, datasets))
                results[-1]["loadavg_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        commit = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"], capture_output=True,
                                text=True).stdout.strip()
        report = {
            "started": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "duration_s": round(time.monotonic() - t_start, 1),
            "preset": args.preset,
            "runs": args.runs,
            "hasync_commit": commit,
            "hasync_variants": variants,
            "machine": machine_info(ws),
            "tools": tool_versions(),
            "fio": fio,
            "fuse": fuse_desc,
            "datasets": datasets,
            "scenarios": results,
        }
        report["targets"] = targets(report)
        md = markdown(report)
        os.makedirs(args.out, exist_ok=True)
        stamp = started.strftime("%Y%m%dT%H%M%SZ")
        with open(os.path.join(args.out, stamp + ".json"), "w") as f:
            json.dump(report, f, indent=1)
        with open(os.path.join(args.out, stamp + ".md"), "w") as f:
            f.write("# perf run %s (preset %s)\n\n" % (report["started"], args.preset) + md)
        if not args.no_readme:
            update_readme(args.readme, "Preset `%s`, %s s in total. Full record: `results/%s.md`.\n\n" % (
                args.preset, report["duration_s"], stamp) + md)
        print(md)
        log("done in %.0f s; results in %s" % (report["duration_s"], args.out))
    finally:
        ws.stop_fuse()
        ws.unmount()


if __name__ == "__main__":
    main(sys.argv[1:])

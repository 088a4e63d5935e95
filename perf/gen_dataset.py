#!/usr/bin/env python3
"""Deterministic dataset generators for the ha-sync perf harness.

Every byte, name, size and timestamp follows from --seed, so two machines (or two
runs) generate identical trees and the numbers are comparable.

  photos  N files, 1 KiB..256 KiB log-normal (median 16 KiB), 3-level tree
          (year/month/event), ~100 files per leaf directory
  media   a few large files of random bytes (default 6 x 1 GiB)
  small   N small files (0..4 KiB), same 3-level layout, for memory scaling
  mutate  applied to a copy of a tree: 1% changed (half with a new size, half
          same size but different bytes, which forces the MD5 comparison), 0.5%
          added, 0.5% deleted; changed and added files get a newer mtime

Usage:
  gen_dataset.py photos DIR [--files N] [--seed S]
  gen_dataset.py media DIR [--count 6] [--size-mib 1024] [--seed S]
  gen_dataset.py small DIR [--files N] [--seed S]
  gen_dataset.py mutate DIR [--seed S]
Prints one JSON line describing what was made.
"""

import argparse
import json
import math
import os
import random
import sys

POOL_SIZE = 32 << 20          # bytes of seeded random data that file contents are cut from
BASE_EPOCH_NS = 1_600_000_000 * 10**9
FILES_PER_LEAF = 100
KIB = 1024


class Pool:
    """A seeded random buffer; contents are windows of it, prefixed by a unique header."""

    def __init__(self, seed):
        self.data = random.Random(seed ^ 0x5EED).randbytes(POOL_SIZE)
        self.view = memoryview(self.data)

    def content(self, key, size):
        header = (b"ha-sync-perf %016x\n" % key)[:size]
        rest = size - len(header)
        if rest <= 0:
            return header
        off = (key * 2654435761) % (POOL_SIZE - rest) if rest < POOL_SIZE else 0
        return header + bytes(self.view[off:off + rest])


def leaf_dirs(n_files):
    """3-level layout: 10 years x 10 months x k events, ~FILES_PER_LEAF files each."""
    leaves = max(1, math.ceil(n_files / FILES_PER_LEAF))
    per_month = max(1, math.ceil(leaves / 100))
    out = []
    for y in range(10):
        for m in range(10):
            for e in range(per_month):
                if len(out) == leaves:
                    return out
                out.append("%d/%02d/event-%04d" % (2015 + y, m + 1, e))
    return out


def mtime_ns(key):
    return BASE_EPOCH_NS + key * 37 * 10**9 + (key * 1234567) % 10**9


def write_file(path, data, key):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    finally:
        os.close(fd)
    t = mtime_ns(key)
    os.utime(path, ns=(t, t))


def set_dir_times(root):
    """Deterministic directory mtimes, set bottom-up after the contents."""
    for dirpath, _, _ in sorted(os.walk(root), key=lambda w: -w[0].count("/")):
        key = sum(dirpath[len(root):].encode()) + 7
        t = mtime_ns(key)
        os.utime(dirpath, ns=(t, t))


def tree(root, n_files, seed, size_fn):
    rng = random.Random(seed)
    pool = Pool(seed)
    leaves = leaf_dirs(n_files)
    total = 0
    for i in range(n_files):
        leaf = leaves[i % len(leaves)]
        d = os.path.join(root, leaf)
        if i < len(leaves):
            os.makedirs(d, exist_ok=True)
        size = size_fn(rng)
        write_file(os.path.join(d, "IMG_%07d.jpg" % i), pool.content(i, size), i)
        total += size
    set_dir_times(root)
    return {"files": n_files, "dirs": len(leaves), "bytes": total}


def photo_size(rng):
    # log-normal, median 16 KiB, clamped to 1 KiB..256 KiB
    s = int(round(16 * KIB * math.exp(rng.gauss(0.0, 1.0))))
    return min(max(s, KIB), 256 * KIB)


def small_size(rng):
    return rng.randrange(0, 4 * KIB + 1)


def media(root, count, size, seed):
    pool = Pool(seed)
    os.makedirs(root, exist_ok=True)
    chunk = 8 << 20
    for i in range(count):
        path = os.path.join(root, "movie-%02d.mkv" % i)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            done = 0
            k = 0
            while done < size:
                n = min(chunk, size - done)
                os.write(fd, pool.content((i << 32) | k, n))
                done += n
                k += 1
        finally:
            os.close(fd)
        t = mtime_ns(i)
        os.utime(path, ns=(t, t))
    set_dir_times(root)
    return {"files": count, "dirs": 1, "bytes": count * size}


def list_files(root):
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for f in sorted(filenames):
            out.append(os.path.join(dirpath, f))
    return out


def mutate(root, seed):
    rng = random.Random(seed ^ 0xC0FFEE)
    pool = Pool(seed ^ 0xC0FFEE)
    files = list_files(root)
    n = len(files)
    picks = rng.sample(range(n), k=max(3, n // 50))  # 1% changed + 0.5% deleted, disjoint
    n_changed = max(1, n // 100)
    changed, deleted = picks[:n_changed], picks[n_changed:n_changed + max(1, n // 200)]
    newer = 3600 * 10**9
    changed_bytes = 0
    for j, idx in enumerate(changed):
        path = files[idx]
        st = os.stat(path)
        key = (1 << 40) | idx
        if j % 2 == 0:   # new size and bytes
            size = max(KIB, st.st_size + rng.randrange(1, 8 * KIB))
        else:            # same size, different bytes: only MD5 tells them apart
            size = st.st_size
        write_file(path, pool.content(key, size), idx)
        changed_bytes += size
        t = st.st_mtime_ns + newer
        os.utime(path, ns=(t, t))
    for idx in deleted:
        os.unlink(files[idx])
    n_added = max(1, n // 200)
    dirs = sorted({os.path.dirname(f) for f in files})
    added_bytes = 0
    for k in range(n_added):
        d = dirs[rng.randrange(len(dirs))]
        size = photo_size(rng)
        key = (2 << 40) | k
        path = os.path.join(d, "NEW_%07d.jpg" % k)
        write_file(path, pool.content(key, size), k)
        t = mtime_ns(k) + newer
        os.utime(path, ns=(t, t))
        added_bytes += size
    set_dir_times(root)
    return {"files_before": n, "changed": len(changed), "deleted": len(deleted),
            "added": n_added, "added_bytes": added_bytes,
            "changed_bytes": changed_bytes + added_bytes}


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=["photos", "media", "small", "mutate"])
    p.add_argument("dir")
    p.add_argument("--files", type=int)
    p.add_argument("--count", type=int, default=6)
    p.add_argument("--size-mib", type=float, default=1024)
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args(argv)
    if a.kind != "mutate":
        if os.path.exists(a.dir) and os.listdir(a.dir):
            p.error("%s exists and is not empty" % a.dir)
        os.makedirs(a.dir, exist_ok=True)
    if a.kind == "photos":
        info = tree(a.dir, a.files or 100_000, a.seed, photo_size)
    elif a.kind == "small":
        info = tree(a.dir, a.files or 1_000_000, a.seed, small_size)
    elif a.kind == "media":
        info = media(a.dir, a.count, int(a.size_mib * (1 << 20)), a.seed)
    else:
        info = mutate(a.dir, a.seed)
    info["kind"] = a.kind
    print(json.dumps(info))


if __name__ == "__main__":
    main(sys.argv[1:])

#!/usr/bin/env python3
"""Counts test cases across meson's testlog.json and prints 'N passed, N failed'.

A doctest program contributes its test-case counts, a `node --test` run its
pass/fail counts; any other test counts as one. A program that failed while
its own summary shows no failure (a crash after the summary, a sanitizer
report) counts one failure more. Exit status 1 when anything failed.
"""
import json
import re
import sys

DOCTEST = re.compile(r"\[doctest\] test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed")
# node --test: "# pass N" (TAP reporter) or "ℹ pass N" (spec reporter).
NODE_PASS = re.compile(r"^(?:#|ℹ) pass (\d+)", re.M)
NODE_FAIL = re.compile(r"^(?:#|ℹ) fail (\d+)", re.M)


def main(path):
    passed = failed = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            t = json.loads(line)
            out = (t.get("stdout") or "") + (t.get("stderr") or "")
            ok = t.get("result") in ("OK", "EXPECTEDFAIL")
            skipped = t.get("result") == "SKIP"
            m = DOCTEST.findall(out)
            if m:
                p = sum(int(x[1]) for x in m)
                fl = sum(int(x[2]) for x in m)
            elif NODE_PASS.search(out):
                p = sum(int(x) for x in NODE_PASS.findall(out))
                fl = sum(int(x) for x in NODE_FAIL.findall(out))
            elif skipped:
                continue
            else:
                p, fl = (1, 0) if ok else (0, 1)
            if not ok and fl == 0:
                fl = 1
                print(f"summarize-tests: {t.get('name')} failed ({t.get('result')}) outside its test cases")
            passed += p
            failed += fl
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

#!/usr/bin/env python3
"""Cross-checks the fake API server's wire format with kubectl, a real
client-go client: discovery, Lease create/get/replace/patch/delete, and that
kubectl recognises every error body (it prints "Error from server (Reason)"
only for a Status it could decode, and formats 422 causes itself).

Exit 77 (skipped) when kubectl is not installed. Needs HA_SYNC_FAKE_KUBE_API
and HA_SYNC_TEST_CERTS (see tests/k8s/meson.build).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request

FAILURES = []


def check(cond, what, detail=""):
    print(("ok   " if cond else "FAIL ") + what + ("" if cond else "\n     " + detail.replace("\n", "\n     ")))
    if not cond:
        FAILURES.append(what)


class Fake:
    def __init__(self, tmp):
        certs = os.path.join(tmp, "certs")
        subprocess.run(["sh", os.environ["HA_SYNC_TEST_CERTS"], certs], check=True)
        self.ca = os.path.join(certs, "ca.crt")
        self.proc = subprocess.Popen(
            [sys.executable, os.environ["HA_SYNC_FAKE_KUBE_API"], "--cert", os.path.join(certs, "server.crt"),
             "--key", os.path.join(certs, "server.key"), "--token", "kubectl-token"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        words = self.proc.stdout.readline().split()
        assert words and words[0] == "READY", "fake did not start"
        self.port, self.control = int(words[1]), int(words[2])

    def control_call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.control, path), data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def main():
    kubectl = shutil.which("kubectl")
    if not kubectl:
        print("kubectl not installed: skipped")
        return 77
    tmp = tempfile.mkdtemp(prefix="ha-sync-kubectl-")
    fake = Fake(tmp)
    try:
        run(kubectl, fake, tmp)
    finally:
        fake.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if FAILURES:
        print("%d check(s) failed" % len(FAILURES))
        return 1
    print("all checks passed")
    return 0


def write_kubeconfig(path, fake, token):
    with open(path, "w") as f:
        f.write("""apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster: {server: "https://127.0.0.1:%d", certificate-authority: "%s"}
users:
- name: ha-sync
  user: {token: "%s"}
contexts:
- name: fake
  context: {cluster: fake, user: ha-sync, namespace: infrastructure}
current-context: fake
""" % (fake.port, fake.ca, token))


def run(kubectl, fake, tmp):
    env = dict(os.environ, HOME=tmp, KUBECONFIG=os.path.join(tmp, "kubeconfig"))
    for k in list(env):
        if k.startswith("KUBERNETES_"):
            del env[k]
    write_kubeconfig(env["KUBECONFIG"], fake, "kubectl-token")

    def k(*args, stdin=None):
        p = subprocess.run([kubectl, *args], env=env, capture_output=True, text=True, input=stdin, timeout=60)
        return p.returncode, p.stdout.strip(), p.stderr.strip()

    def lease_file(name, spec, extra_meta=None, rv=None):
        meta = {"name": name}
        meta.update(extra_meta or {})
        if rv:
            meta["resourceVersion"] = rv
        obj = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta, "spec": spec}
        path = os.path.join(tmp, name + ".json")
        with open(path, "w") as f:
            json.dump(obj, f)
        return path

    good = {"holderIdentity": "kubectl/1", "leaseDurationSeconds": 30, "leaseTransitions": 0,
            "acquireTime": "2030-01-02T05:04:05.123456+02:00", "renewTime": "2030-01-02T03:04:05.123456Z"}

    rc, out, err = k("create", "--validate=false", "-f", lease_file("kc", good))
    check(rc == 0 and out == "lease.coordination.k8s.io/kc created", "create", out + err)

    rc, out, err = k("get", "lease", "kc", "-o", "jsonpath={.spec.holderIdentity} {.spec.acquireTime} "
                     "{.spec.renewTime} {.metadata.resourceVersion} {.metadata.uid}")
    parts = out.split()
    check(rc == 0 and len(parts) == 5 and parts[0] == "kubectl/1", "get -o jsonpath", out + err)
    check(len(parts) == 5 and parts[1] == "2030-01-02T03:04:05.123456Z",
          "MicroTime with an offset is stored in UTC with six digits", out)
    rv1, uid = (parts[3], parts[4]) if len(parts) == 5 else ("", "")

    rc, out, err = k("get", "leases", "-o", "name")
    check(rc == 0 and out == "lease.coordination.k8s.io/kc", "list", out + err)

    rc, out, err = k("create", "--validate=false", "-f", lease_file("kc", good))
    check(rc != 0 and err.startswith("Error from server (AlreadyExists)") and
          'leases.coordination.k8s.io "kc" already exists' in err, "create twice -> AlreadyExists", err)

    newer = dict(good, holderIdentity="kubectl/2")
    rc, out, err = k("replace", "--validate=false", "-f", lease_file("kc", newer, rv=rv1))
    check(rc == 0 and out == "lease.coordination.k8s.io/kc replaced", "replace with the current rv", out + err)
    rc, rv2, err = k("get", "lease", "kc", "-o", "jsonpath={.metadata.resourceVersion}")
    check(rv2.isdigit() and int(rv2) > int(rv1 or 0), "replace gives a new resourceVersion", rv1 + " -> " + rv2)

    rc, out, err = k("replace", "--validate=false", "-f", lease_file("kc", newer, rv=rv1))
    check(rc != 0 and err.startswith("Error from server (Conflict)") and
          "the object has been modified; please apply your changes to the latest version and try again" in err,
          "replace with a stale rv -> Conflict", err)

    rc, out, err = k("replace", "--validate=false", "-f", lease_file("kc", newer, rv=rv2))
    rc, rv3, err = k("get", "lease", "kc", "-o", "jsonpath={.metadata.resourceVersion}")
    check(rv3 == rv2, "a no-op replace keeps the resourceVersion", rv2 + " -> " + rv3)

    rc, out, err = k("replace", "--validate=false", "-f", lease_file("kc", newer, extra_meta={"uid": "not-it"},
                                                                        rv=rv2))
    check(rc != 0 and err.startswith("Error from server (Conflict)") and "Precondition failed: UID in precondition"
          in err, "replace with another uid -> Conflict", err)

    # kubectl replace fills in a missing resourceVersion itself; --raw sends the body as it is.
    path = "/apis/coordination.k8s.io/v1/namespaces/infrastructure/leases/"
    rc, out, err = k("replace", "--raw", path + "kc", "-f", lease_file("kc", newer))
    check(rc != 0 and "Invalid value: 0x0: must be specified for an update" in err,
          "PUT without rv -> 422 must be specified", out + err)

    rc, out, err = k("replace", "--raw", path + "ghost", "-f", lease_file("ghost", good, extra_meta={"uid": uid}))
    check(rc != 0 and "Precondition failed: UID in precondition" in err,
          "PUT with a uid to a missing lease -> 409, not re-created", out + err)
    rc, out, err = k("replace", "--raw", path + "ghost", "-f", lease_file("ghost", good, rv="5"))
    check(rc == 0 and '"name":"ghost"' in out, "PUT without uid to a missing lease re-creates it (201)", out + err)
    rc, out, err = k("delete", "lease", "ghost", "--wait=false")

    rc, out, err = k("create", "--validate=false", "-f", lease_file("Bad_Name", good))
    check(rc != 0 and err.startswith('The Lease "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": '
                                     'a lowercase RFC 1123 subdomain'), "bad name -> 422 (kubectl formats causes)", err)

    rc, out, err = k("create", "--validate=false", "-f", lease_file("zero", dict(good, leaseDurationSeconds=0)))
    check(rc != 0 and 'The Lease "zero" is invalid: spec.leaseDurationSeconds: Invalid value: 0: must be greater '
          'than 0' in err, "leaseDurationSeconds 0 -> 422", err)

    rc, out, err = k("create", "--validate=false", "-f",
                     lease_file("fivedigits", dict(good, renewTime="2030-01-02T03:04:05.12345Z")))
    check(rc != 0 and err.startswith("Error from server (BadRequest)") and
          'parsing time "2030-01-02T03:04:05.12345Z" as "2006-01-02T15:04:05.000000Z07:00"' in err,
          "a five-digit MicroTime -> 400 BadRequest", err)

    rc, out, err = k("create", "--validate=false", "-f",
                     lease_file("typed", dict(good, leaseDurationSeconds="30")))
    check(rc != 0 and err.startswith("Error from server (BadRequest)") and "of type int32" in err,
          "a string leaseDurationSeconds -> 400 BadRequest", err)

    rc, out, err = k("create", "--validate=false", "-n", "nowhere", "-f", lease_file("elsewhere", good))
    check(rc != 0 and err.startswith("Error from server (NotFound)") and 'namespaces "nowhere" not found' in err,
          "create in a missing namespace -> 404 namespaces", err)

    rc, out, err = k("get", "lease", "nope")
    check(rc != 0 and err == 'Error from server (NotFound): leases.coordination.k8s.io "nope" not found',
          "get missing -> NotFound", err)

    rc, out, err = k("patch", "lease", "kc", "--type=merge", "-p", '{"spec":{"holderIdentity":"patched"}}')
    check(rc == 0 and "patched" in out, "merge patch", out + err)
    rc, out, err = k("get", "lease", "kc", "-o", "jsonpath={.spec.holderIdentity}")
    check(out == "patched", "patch applied", out)

    fake.control_call("POST", "/op", {"op": "deny", "verbs": ["get"]})
    rc, out, err = k("get", "lease", "kc")
    check(rc != 0 and err.startswith('Error from server (Forbidden): leases.coordination.k8s.io "kc" is forbidden: '
                                     'User "system:serviceaccount:infrastructure:ha-sync" cannot get resource '
                                     '"leases" in API group "coordination.k8s.io" in the namespace "infrastructure"'),
          "RBAC denial -> Forbidden", err)
    fake.control_call("POST", "/op", {"op": "deny", "verbs": []})

    rc, out, err = k("get", "lease", "kc", "--token", "wrong")
    check(rc != 0 and "You must be logged in to the server" in err and "Unauthorized" in err,
          "a wrong token -> 401 Unauthorized", err)

    fake.control_call("POST", "/faults", {"rules": [{"method": "GET", "path": "/leases/kc", "action": "plain429",
                                                     "retry_after": "0", "times": 1}]})
    rc, out, err = k("get", "lease", "kc", "-o", "jsonpath={.spec.holderIdentity}")
    check(rc == 0 and out == "patched", "client-go retries a plain-text 429 with Retry-After", out + err)

    rc, out, err = k("delete", "lease", "kc", "--wait=false")
    check(rc == 0 and out == 'lease.coordination.k8s.io "kc" deleted', "delete --wait=false", out + err)
    rc, out, err = k("get", "lease", "kc")
    check(rc != 0 and "(NotFound)" in err, "gone after delete", err)

    log = fake.control_call("GET", "/log")
    discovery = {e["path"] for e in log if e["method"] == "GET"}
    check({"/api", "/apis", "/apis/coordination.k8s.io/v1"} <= discovery, "kubectl used the fake's discovery",
          str(sorted(discovery)))
    deletes = [e for e in log if e["method"] == "DELETE"]
    check(deletes and deletes[-1]["code"] == 200 and deletes[-1]["body"].get("propagationPolicy") == "Background",
          "kubectl's DELETE (DeleteOptions body) answered 200 with a Status", str(deletes[-1:]))
    check(all(re.match(r"^kubectl", e.get("user_agent") or "") for e in log), "all requests came from kubectl")


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Checks the fake API server itself.

  fake_api_check.py kubectl    cross-checks its wire format with kubectl, a real
      client-go client: discovery, Lease create/get/replace/patch/delete, and
      that kubectl recognises every error body (it prints "Error from server
      (Reason)" only for a Status it could decode, and formats 422 causes
      itself). Exit 77 (skipped) when kubectl is not installed.
  fake_api_check.py semantics  checks, request by request, the behaviour table
      of the Kubernetes API conventions for Leases (codes, reasons, exact messages, resourceVersion and
      uid rules, DeleteOptions preconditions, MicroTime strictness, auth).

Needs HA_SYNC_FAKE_KUBE_API and HA_SYNC_TEST_CERTS (see tests/k8s/meson.build).
"""

import json
import os
import re
import shutil
import ssl
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
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode not in ("kubectl", "semantics"):
        print("usage: fake_api_check.py kubectl|semantics")
        return 2
    kubectl = shutil.which("kubectl")
    if mode == "kubectl" and not kubectl:
        print("kubectl not installed: skipped")
        return 77
    tmp = tempfile.mkdtemp(prefix="ha-sync-fake-check-")
    fake = Fake(tmp)
    try:
        if mode == "kubectl":
            run(kubectl, fake, tmp)
        else:
            semantics(fake)
    finally:
        fake.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if FAILURES:
        print("%d check(s) failed" % len(FAILURES))
        return 1
    print("all checks passed")
    return 0


class Api:
    """Raw HTTPS requests to the fake, verified against its CA."""

    def __init__(self, fake, token="kubectl-token"):
        self.fake = fake
        self.token = token
        self.ctx = ssl.create_default_context(cafile=fake.ca)

    def call(self, method, path, body=None, token=None, raw=None, content_type="application/json"):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {"Accept": "application/json"}
        tok = self.token if token is None else token
        if tok:
            headers["Authorization"] = "Bearer " + tok
        if data is not None:
            headers["Content-Type"] = content_type
        req = urllib.request.Request("https://127.0.0.1:%d%s" % (self.fake.port, path), data=data,
                                     method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()


LEASES = "/apis/coordination.k8s.io/v1/namespaces/infrastructure/leases"


def lease(name, rv=None, uid=None, **spec):
    meta = {"name": name}
    if rv is not None:
        meta["resourceVersion"] = rv
    if uid is not None:
        meta["uid"] = uid
    full = {"holderIdentity": "h/1", "leaseDurationSeconds": 30, "acquireTime": "2030-01-02T03:04:05.000001Z",
            "renewTime": "2030-01-02T03:04:05.000001Z", "leaseTransitions": 0}
    full.update(spec)
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta, "spec": full}


def semantics(fake):
    api = Api(fake)

    def status_is(what, got, code, reason, message=None, message_part=None):
        c, _, body = got
        try:
            st = json.loads(body)
        except ValueError:
            st = {}
        ok = (c == code and st.get("kind") == "Status" and st.get("code") == code and
              st.get("reason", "") == reason and st.get("status") == "Failure" and
              (message is None or st.get("message") == message) and
              (message_part is None or message_part in st.get("message", "")))
        check(ok, what, "%d %s" % (c, body))
        return st

    c, h, body = api.call("POST", LEASES, lease("a"))
    created = json.loads(body)
    check(c == 201 and created["metadata"]["resourceVersion"].isdigit() and created["metadata"]["uid"],
          "POST -> 201 with uid and resourceVersion", body)
    rv, uid = created["metadata"]["resourceVersion"], created["metadata"]["uid"]
    check(list(created) == ["kind", "apiVersion", "metadata", "spec"], "object member order as served")

    status_is("POST existing -> 409 AlreadyExists", api.call("POST", LEASES, lease("a")), 409, "AlreadyExists",
              'leases.coordination.k8s.io "a" already exists')
    st = status_is("POST with a resourceVersion -> 500, empty reason", api.call("POST", LEASES, lease("b", rv="7")),
                   500, "", "resourceVersion should not be set on objects to be created")
    check("reason" not in st, "the 500 Status has no reason member", str(st))
    st = status_is("POST into a missing namespace -> 404 namespaces",
                   api.call("POST", LEASES.replace("infrastructure", "nowhere"), lease("a")), 404, "NotFound",
                   'namespaces "nowhere" not found')
    check(st.get("details") == {"name": "nowhere", "kind": "namespaces"}, "404 namespace details", str(st))
    status_is("POST leaseDurationSeconds 0 -> 422", api.call("POST", LEASES, lease("z", leaseDurationSeconds=0)),
              422, "Invalid", 'Lease.coordination.k8s.io "z" is invalid: spec.leaseDurationSeconds: Invalid value: '
              '0: must be greater than 0')
    status_is("POST leaseTransitions -1 -> 422", api.call("POST", LEASES, lease("t", leaseTransitions=-1)),
              422, "Invalid", message_part="spec.leaseTransitions: Invalid value: -1")
    status_is("POST name with upper case -> 422", api.call("POST", LEASES, lease("Bad")), 422, "Invalid",
              message_part='metadata.name: Invalid value: "Bad": a lowercase RFC 1123 subdomain')
    status_is("POST name 'a..b' -> 422", api.call("POST", LEASES, lease("a..b")), 422, "Invalid")
    for bad in ("2030-01-02T03:04:05Z", "2030-01-02T03:04:05.123Z", "2030-01-02T03:04:05.1234567Z",
                "2030-01-02T03:04:05.123456z", "2030-01-02T03:04:05.123456+0200"):
        status_is("MicroTime %s -> 400" % bad, api.call("POST", LEASES, lease("m", renewTime=bad)), 400,
                  "BadRequest", message_part='parsing time "%s" as "2006-01-02T15:04:05.000000Z07:00"' % bad)
    c, _, body = api.call("POST", LEASES, lease("comma", renewTime="2030-01-02T03:04:05,000002+01:00"))
    check(c == 201 and json.loads(body)["spec"]["renewTime"] == "2030-01-02T02:04:05.000002Z",
          "MicroTime with ',' and an offset is accepted and served in UTC", body)
    status_is("JSON type error -> 400", api.call("POST", LEASES, lease("ty", leaseDurationSeconds="5")), 400,
              "BadRequest", message_part="cannot unmarshal string into Go struct field LeaseSpec.spec."
              "leaseDurationSeconds of type int32")
    status_is("not JSON -> 400", api.call("POST", LEASES, raw=b"{"), 400, "BadRequest")

    item = LEASES + "/a"
    status_is("PUT without resourceVersion -> 422", api.call("PUT", item, lease("a")), 422, "Invalid",
              'leases.coordination.k8s.io "a" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be '
              'specified for an update')
    status_is("PUT with resourceVersion \"0\" -> 422", api.call("PUT", item, lease("a", rv="0")), 422, "Invalid")
    status_is("PUT with a stale resourceVersion -> 409 Conflict",
              api.call("PUT", item, lease("a", rv=str(int(rv) - 1))), 409, "Conflict",
              'Operation cannot be fulfilled on leases.coordination.k8s.io "a": the object has been modified; '
              'please apply your changes to the latest version and try again')
    status_is("PUT with another uid -> 409 Conflict (precondition)",
              api.call("PUT", item, lease("a", rv=rv, uid="other")), 409, "Conflict",
              message_part="Precondition failed: UID in precondition: other, UID in object meta: " + uid)
    status_is("PUT with a name that is not the URL's -> 400", api.call("PUT", item, lease("b", rv=rv)), 400,
              "BadRequest", "the name of the object (b) does not match the name on the URL (a)")
    c, _, body = api.call("PUT", item, lease("a", rv=rv, uid=uid))
    check(c == 200 and json.loads(body)["metadata"]["resourceVersion"] == rv,
          "a no-op PUT keeps the resourceVersion", body)
    c, _, body = api.call("PUT", item, lease("a", rv=rv, uid=uid, holderIdentity="h/2"))
    rv2 = json.loads(body)["metadata"]["resourceVersion"]
    check(c == 200 and int(rv2) > int(rv), "a changing PUT gets a new resourceVersion", body)
    c, _, body = api.call("POST", LEASES, lease("other"))
    check(int(json.loads(body)["metadata"]["resourceVersion"]) > int(rv2),
          "resourceVersion is global and monotonic across objects", body)

    ghost = LEASES + "/ghost"
    status_is("PUT with a uid to a missing lease -> 409", api.call("PUT", ghost, lease("ghost", rv="5", uid=uid)),
              409, "Conflict", message_part="Precondition failed: UID in precondition: " + uid)
    c, _, body = api.call("PUT", ghost, lease("ghost", rv="5"))
    check(c == 201, "PUT without a uid to a missing lease re-creates it (201)", body)

    pre = lambda u, r: {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": u, "resourceVersion": r}}
    status_is("DELETE with a stale resourceVersion precondition -> 409",
              api.call("DELETE", item, pre(uid, rv)), 409, "Conflict",
              'Operation cannot be fulfilled on Lease.coordination.k8s.io "a": the ResourceVersion in the '
              'precondition (%s) does not match the ResourceVersion in record (%s). The object might have been '
              'modified' % (rv, rv2))
    st = status_is("DELETE with another uid precondition -> 409", api.call("DELETE", item, pre("x", rv2)), 409,
                   "Conflict", message_part="the UID in the precondition (x) does not match the UID in record")
    check(st.get("details") == {"name": "a", "group": "coordination.k8s.io", "kind": "Lease"},
          "precondition 409 details use the kind", str(st))
    c, _, body = api.call("DELETE", item, pre(uid, rv2))
    check(c == 200 and json.loads(body) == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                            "details": {"name": "a", "group": "coordination.k8s.io",
                                                        "kind": "leases", "uid": uid}},
          "DELETE with matching preconditions -> 200 Status", body)
    st = status_is("DELETE of a missing lease -> 404", api.call("DELETE", item, pre(uid, rv2)), 404, "NotFound",
                   'leases.coordination.k8s.io "a" not found')
    check(st.get("details") == {"name": "a", "group": "coordination.k8s.io", "kind": "leases"},
          "404 details", str(st))

    status_is("a wrong token -> 401", api.call("GET", item, token="wrong"), 401, "Unauthorized", "Unauthorized")
    status_is("no token -> 403 for system:anonymous", api.call("GET", item, token=""), 403, "Forbidden",
              'leases.coordination.k8s.io "a" is forbidden: User "system:anonymous" cannot get resource "leases" '
              'in API group "coordination.k8s.io" in the namespace "infrastructure"')
    fake.control_call("POST", "/op", {"op": "deny", "verbs": ["create"]})
    status_is("RBAC create denied -> 403 naming the verb", api.call("POST", LEASES, lease("r")), 403, "Forbidden",
              'leases.coordination.k8s.io is forbidden: User "system:serviceaccount:infrastructure:ha-sync" cannot '
              'create resource "leases" in API group "coordination.k8s.io" in the namespace "infrastructure"')
    status_is("a PUT that would create needs create too", api.call("PUT", LEASES + "/r", lease("r", rv="1")), 403,
              "Forbidden", message_part="cannot create resource")
    fake.control_call("POST", "/op", {"op": "deny", "verbs": []})

    fake.control_call("POST", "/faults", {"rules": [{"action": "plain429", "retry_after": "3"}]})
    c, h, body = api.call("GET", item)
    check(c == 429 and body == "Too many requests, please try again later.\n" and h.get("Retry-After") == "3" and
          h.get("Content-Type", "").startswith("text/plain"), "plain-text 429 with Retry-After", body)
    fake.control_call("POST", "/faults", {"rules": [{"action": "status", "code": 503, "retry_after": "2"}]})
    c, h, body = api.call("GET", item)
    check(c == 503 and h.get("Retry-After") == "2" and json.loads(body)["reason"] == "ServiceUnavailable",
          "503 Status with Retry-After", body)
    fake.control_call("POST", "/faults", {"rules": [{"method": "POST", "action": "status", "code": 504,
                                                     "apply": True}]})
    c, _, body = api.call("POST", LEASES, lease("late"))
    c2, _, _ = api.call("GET", LEASES + "/late")
    check(c == 504 and c2 == 200, "a failure after the write was applied: 504, yet the lease exists", body)


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

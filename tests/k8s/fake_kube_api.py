#!/usr/bin/env python3
"""A fake Kubernetes API server for the coordination.k8s.io/v1 Lease subset.

It is the only fake in ha-sync's tests: no kube-apiserver can be installed on
our machines, so the Lease client is tested against this
server, which follows the real server's behaviour for Leases as documented in
the Kubernetes API conventions (codes, Status bodies, resourceVersion rules, MicroTime
strictness, DeleteOptions preconditions). `fake_api_check.py kubectl`
checks its wire format with a real client-go client (kubectl).

API side (HTTPS, bearer token):
  discovery  GET /version /api /api/v1 /apis /apis/coordination.k8s.io/v1
  namespaces GET /api/v1/namespaces/NS
  leases     GET|POST /apis/coordination.k8s.io/v1/namespaces/NS/leases
             GET|PUT|PATCH|DELETE .../leases/NAME
  Auth: a wrong token -> 401; no Authorization header -> system:anonymous,
  403 on leases; a verb on the deny list -> 403 naming verb and resource.

Control side (plain HTTP on 127.0.0.1, JSON):
  GET  /log            requests seen so far (method, path, headers, body, code)
  DELETE /log          forget them
  GET  /state          the stored leases, the current resourceVersion and the
                       TLS server names (SNI) clients sent
  POST /faults         {"rules":[RULE,...]} appended; DELETE /faults clears
  POST /op             an out-of-band change, see Fake.op()
  POST /reset          {"token": T}: back to the start state (no leases, no
                       faults, empty log, only token T valid and written to
                       the token file) on a new API port, answered with
                       {"api_port": P}, so one server can serve many tests
RULE = {"method":"PUT"|"*", "path":"substring", "skip":N, "times":N|-1,
        "action":"status"|"plain429"|"delay"|"hang"|"reset",
        "code":503, "retry_after":"1", "seconds":S, "apply":true|false}
  skip: let the first N matching requests through; times: how often (-1 = always);
  apply: run the request for real first (the write happens), then fail it
  (an ambiguous outcome for the client); delay: answer normally after S s;
  hang: answer nothing for S s (default 60), then close; reset: TCP RST.

Start: fake_kube_api.py --cert C --key K --token T [--token-file F]
prints "READY <api_port> <control_port>" on stdout once listening.
"""

import argparse
import copy
import datetime
import json
import os
import re
import socket
import ssl
import struct
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GROUP = "coordination.k8s.io"
GROUP_VERSION = GROUP + "/v1"
LEASE_PATH = re.compile(r"^/apis/coordination\.k8s\.io/v1/namespaces/([^/]+)/leases(?:/([^/]+))?$")
NAMESPACE_PATH = re.compile(r"^/api/v1/namespaces/([^/]+)$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
MICROTIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})[.,](\d{6})(Z|[+-]\d{2}:\d{2})$")
SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                 "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
                 "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
SPEC_FIELDS = ["holderIdentity", "leaseDurationSeconds", "acquireTime", "renewTime", "leaseTransitions"]
# Coordinated Leader Election fields: dropped, the feature gate is off.
GATED_SPEC_FIELDS = ["strategy", "preferredHolder"]
META_FIELDS = ["name", "generateName", "namespace", "uid", "resourceVersion", "generation",
               "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
               "annotations", "ownerReferences", "finalizers", "managedFields", "selfLink"]
TIME_LAYOUT = "2006-01-02T15:04:05.000000Z07:00"
INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1


class ApiError(Exception):
    """An answer other than success: code plus a meta/v1 Status body."""

    def __init__(self, code, reason, message, details=None, headers=None, raw_body=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or []
        self.raw_body = raw_body

    def body(self):
        if self.raw_body is not None:
            return self.raw_body
        return status_body(self.code, self.reason, self.message, self.details)


def status_body(code, reason, message, details=None):
    st = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message}
    if reason:
        st["reason"] = reason
    if details is not None:
        st["details"] = details
    st["code"] = code
    return st


def lease_details(name, kind="leases"):
    return {"name": name, "group": GROUP, "kind": kind}


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc)


def format_micro(dt):
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_seconds(dt):
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def decode_error(detail):
    return ApiError(400, "BadRequest", 'Lease in version "v1" cannot be handled as a Lease: ' + detail)


def parse_micro(value, field):
    """Go's time.Parse(RFC3339Micro): exactly six fractional digits."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise decode_error("json: cannot unmarshal %s into Go struct field LeaseSpec.spec.%s of type string"
                           % (json_type(value), field))
    m = MICROTIME.match(value)
    if not m:
        prefix = re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", value)
        if prefix:
            rest, elem = value[prefix.end():], ".000000"
        else:
            rest, elem = value, "2006"
        raise decode_error('parsing time "%s" as "%s": cannot parse "%s" as "%s"' % (value, TIME_LAYOUT, rest, elem))
    y, mo, d, h, mi, s, frac, zone = m.groups()
    try:
        tz = datetime.timezone.utc
        if zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            tz = datetime.timezone(sign * datetime.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
        dt = datetime.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), int(frac), tzinfo=tz)
    except ValueError as e:
        raise decode_error('parsing time "%s": %s' % (value, e))
    return format_micro(dt)


def json_type(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"


def decode_lease(raw):
    """Decodes a Lease body like the server's JSON decoder: type errors and bad
    times are 400; unknown fields are dropped with a warning."""
    try:
        obj = json.loads(raw.decode("utf-8") if raw else "")
    except (ValueError, UnicodeDecodeError) as e:
        raise decode_error("json: %s" % e)
    if not isinstance(obj, dict):
        raise decode_error("json: cannot unmarshal %s into Go value of type v1.Lease" % json_type(obj))
    warnings = []
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    if kind not in (None, "", "Lease") or api_version not in (None, "", GROUP_VERSION):
        raise ApiError(400, "BadRequest", "the API version in the data (%s) does not match the expected API "
                       "version (%s)" % (api_version, GROUP_VERSION))
    meta = obj.get("metadata") or {}
    if not isinstance(meta, dict):
        raise decode_error("json: cannot unmarshal %s into Go struct field Lease.metadata of type v1.ObjectMeta"
                           % json_type(meta))
    for key in ("name", "namespace", "uid", "resourceVersion", "generateName"):
        if key in meta and meta[key] is not None and not isinstance(meta[key], str):
            raise decode_error("json: cannot unmarshal %s into Go struct field ObjectMeta.metadata.%s of type string"
                               % (json_type(meta[key]), key))
    for key in meta:
        if key not in META_FIELDS:
            warnings.append('unknown field "metadata.%s"' % key)
    spec_in = obj.get("spec") or {}
    if not isinstance(spec_in, dict):
        raise decode_error("json: cannot unmarshal %s into Go struct field Lease.spec of type v1.LeaseSpec"
                           % json_type(spec_in))
    spec = {}
    for key, value in spec_in.items():
        if key in ("leaseDurationSeconds", "leaseTransitions"):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < INT32_MIN or value > INT32_MAX:
                raise decode_error("json: cannot unmarshal %s into Go struct field LeaseSpec.spec.%s of type int32"
                                   % (json_type(value), key))
            spec[key] = value
        elif key in ("acquireTime", "renewTime"):
            parsed = parse_micro(value, key)
            if parsed is not None:
                spec[key] = parsed
        elif key == "holderIdentity" or key in GATED_SPEC_FIELDS:
            if value is None:
                continue
            if not isinstance(value, str):
                raise decode_error("json: cannot unmarshal %s into Go struct field LeaseSpec.spec.%s of type string"
                                   % (json_type(value), key))
            if key == "holderIdentity":
                spec[key] = value
        else:
            warnings.append('unknown field "spec.%s"' % key)
    for key in obj:
        if key not in ("kind", "apiVersion", "metadata", "spec"):
            warnings.append('unknown field "%s"' % key)
    return meta, spec, warnings


def invalid(name, field, message, value_repr, kind="Lease", group_kind="Lease.coordination.k8s.io"):
    detail = "Invalid value: %s: %s" % (value_repr, message)
    return ApiError(422, "Invalid", '%s "%s" is invalid: %s: %s' % (group_kind, name, field, detail),
                    {"name": name, "group": GROUP, "kind": kind,
                     "causes": [{"reason": "FieldValueInvalid", "message": detail, "field": field}]})


def validate(name, spec):
    if not name:
        raise ApiError(422, "Invalid", 'Lease.coordination.k8s.io "" is invalid: metadata.name: Required value: '
                       'name or generateName is required',
                       {"group": GROUP, "kind": "Lease", "causes": [{"reason": "FieldValueRequired", "message":
                        "Required value: name or generateName is required", "field": "metadata.name"}]})
    if len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
        raise invalid(name, "metadata.name", SUBDOMAIN_MSG, json.dumps(name))
    d = spec.get("leaseDurationSeconds")
    if d is not None and d <= 0:
        raise invalid(name, "spec.leaseDurationSeconds", "must be greater than 0", str(d))
    t = spec.get("leaseTransitions")
    if t is not None and t < 0:
        raise invalid(name, "spec.leaseTransitions", "must be greater than or equal to 0", str(t))


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


class Fake:
    """All server state, guarded by one lock."""

    def __init__(self, token, token_file, namespaces):
        self.lock = threading.RLock()
        self.default_namespaces = set(namespaces)
        self.rv = 100
        self.leases = {}  # (ns, name) -> stored object (canonical dict)
        self.namespaces = set(namespaces)
        self.tokens = {token}
        self.token_file = token_file
        self.deny = set()
        self.rules = []
        self.log = []
        self.seq = 0
        self.down = False
        self.sni = []  # TLS server names the clients sent (None: no SNI)
        self.api_port = 0
        self.api = None
        self.generation = 0
        self.ssl_context = None
        self.started = time.monotonic()
        self.shutdown = threading.Event()
        if token_file:
            self.write_token(token)

    def start_api(self, port=0):
        """(Re)opens the API listener. A reset moves to a new port and
        generation: requests of an earlier test that are still queued or in
        flight are dropped unseen (no log entry, no fault rule consumed)."""
        old = self.api
        with self.lock:
            self.generation += 1
            api = ApiServer(("127.0.0.1", port), self, self.ssl_context, self.generation)
            self.api = api
            self.api_port = api.server_address[1]
        threading.Thread(target=api.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        if old is not None:
            old.shutdown()
            old.server_close()

    def reset(self, token):
        self.start_api()
        with self.lock:
            self.leases = {}
            self.namespaces = set(self.default_namespaces)
            self.tokens = {token}
            self.deny = set()
            self.rules = []
            self.log = []
            self.down = False
            self.sni = []
            if self.token_file:
                self.write_token(token)

    def write_token(self, token):
        tmp = self.token_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(token + "\n")
        os.replace(tmp, self.token_file)

    def next_rv(self):
        self.rv += 1
        return str(self.rv)

    # ---- fault rules ----
    def take_fault(self, method, path):
        with self.lock:
            for rule in self.rules:
                if rule.get("times", 1) == 0:
                    continue
                if rule.get("method", "*") not in ("*", method):
                    continue
                if rule.get("path", "") not in path:
                    continue
                if rule.get("skip", 0) > 0:
                    rule["skip"] -= 1
                    return None
                if rule.get("times", 1) > 0:
                    rule["times"] = rule.get("times", 1) - 1
                return dict(rule)
        return None

    # ---- out-of-band changes (POST /op) ----
    def op(self, req):
        kind = req.get("op")
        ns, name = req.get("namespace", "infrastructure"), req.get("name", "")
        with self.lock:
            key = (ns, name)
            if kind == "take_over":  # another holder takes it (as a contender's PUT would)
                obj = self.leases[key]
                spec = obj["spec"]
                spec["holderIdentity"] = req["holder"]
                t = format_micro(now_utc())
                spec["acquireTime"] = spec["renewTime"] = t
                spec["leaseTransitions"] = spec.get("leaseTransitions", 0) + 1
                obj["metadata"]["resourceVersion"] = self.next_rv()
            elif kind == "expire":  # move renewTime into the past
                obj = self.leases[key]
                past = now_utc() - datetime.timedelta(seconds=req.get("seconds", 100000))
                obj["spec"]["renewTime"] = format_micro(past)
                obj["metadata"]["resourceVersion"] = self.next_rv()
            elif kind == "annotate":  # a change that keeps the holder (bumps rv)
                obj = self.leases[key]
                obj["metadata"].setdefault("annotations", {})[req.get("key", "k")] = req.get("value", "v")
                obj["metadata"]["resourceVersion"] = self.next_rv()
            elif kind == "delete":
                self.leases.pop(key, None)
                self.next_rv()
            elif kind == "put":  # store a lease as given (fresh uid unless given)
                spec = {k: v for k, v in req.get("spec", {}).items()}
                obj = self.canonical(name, ns, str(req.get("uid") or uuid.uuid4()), self.next_rv(),
                                     format_seconds(now_utc()), {}, spec, req.get("manager", "other"))
                self.leases[key] = obj
            elif kind == "rotate_token":
                if req.get("revoke_old", True):
                    self.tokens = set()
                self.tokens.add(req["token"])
                if self.token_file:
                    self.write_token(req["token"])
            elif kind == "deny":
                self.deny = set(req.get("verbs", []))
            elif kind == "down":
                self.down = True
            elif kind == "up":
                self.down = False
            elif kind == "namespaces":
                self.namespaces = set(req["names"])
            else:
                raise ValueError("unknown op %r" % kind)
            return {"resourceVersion": str(self.rv)}

    def canonical(self, name, ns, uid, rv, created, meta_in, spec, manager):
        meta = {"name": name, "namespace": ns, "uid": uid, "resourceVersion": rv, "creationTimestamp": created}
        for key in ("labels", "annotations"):
            if meta_in.get(key):
                meta[key] = meta_in[key]
        meta["managedFields"] = [{
            "manager": manager, "operation": "Update", "apiVersion": GROUP_VERSION,
            "time": format_seconds(now_utc()), "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:" + k: {} for k in SPEC_FIELDS if k in spec}}}]
        ordered = {k: spec[k] for k in SPEC_FIELDS if k in spec}
        return {"kind": "Lease", "apiVersion": GROUP_VERSION, "metadata": meta, "spec": ordered}


class ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-kube-apiserver"
    sys_version = ""

    def log_message(self, fmt, *args):  # quiet: the request log is the record
        pass

    @property
    def fake(self):
        return self.server.fake

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def dispatch(self, method):
        fake = self.fake
        if self.server.generation != fake.generation:  # a request of an earlier test
            self.close_connection = True
            self.abort_connection()
        path, _, query = self.path.partition("?")
        raw = self.read_body()
        with fake.lock:
            fake.seq += 1
            entry = {"seq": fake.seq, "t": round(time.monotonic() - fake.started, 4),
                     "mono_ns": time.monotonic_ns(), "method": method,
                     "path": path, "query": query, "content_type": self.headers.get("Content-Type"),
                     "user_agent": self.headers.get("User-Agent"), "accept": self.headers.get("Accept")}
        try:
            body_text = raw.decode("utf-8")
            try:
                entry["body"] = json.loads(body_text) if body_text else None
            except ValueError:
                entry["body"] = body_text
        except UnicodeDecodeError:
            entry["body"] = repr(raw)
        auth = self.headers.get("Authorization")
        token = None
        if auth:
            scheme, _, value = auth.partition(" ")
            if scheme.lower() == "bearer":
                token = value.strip()
        entry["token"] = token

        rule = fake.take_fault(method, path)
        if rule:
            entry["fault"] = rule.get("action")
        if rule and rule.get("action") == "delay":
            self.sleep(rule.get("seconds", 1))
            rule = None
        if rule and not rule.get("apply"):
            self.do_fault(rule, entry)
            return
        try:
            code, body, headers = self.handle_api(method, path, query, raw, token, entry)
        except ApiError as e:
            code, body, headers = e.code, e.body(), e.headers
        if rule:  # apply: the request took effect; now its answer is lost or replaced
            entry["applied_code"] = code
            self.do_fault(rule, entry)
            return
        entry["code"] = code
        with fake.lock:
            fake.log.append(entry)
        self.send_json(code, body, headers)

    def read_body(self):
        # Go clients stream bodies of unknown length chunked (kubectl --raw does).
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            raw = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return raw
                raw += self.rfile.read(size)
                self.rfile.readline()  # the CRLF after each chunk
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def sleep(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self.fake.shutdown.is_set():
            time.sleep(0.02)

    def do_fault(self, rule, entry):
        action = rule.get("action")
        entry["code"] = action
        with self.fake.lock:
            self.fake.log.append(entry)
        if action == "hang":
            self.sleep(rule.get("seconds", 60))
            self.close_connection = True
            self.abort_connection()
        elif action == "reset":
            self.close_connection = True
            self.abort_connection()
        elif action == "plain429":
            entry["code"] = 429
            body = b"Too many requests, please try again later.\n"
            self.send_response(429)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Retry-After", str(rule.get("retry_after", "1")))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:  # status
            code = int(rule.get("code", 503))
            entry["code"] = code
            reasons = {500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout", 429: "TooManyRequests"}
            messages = {504: "Timeout: request did not complete within requested timeout - context deadline exceeded",
                        503: "the server is currently unable to handle the request",
                        500: "Internal error occurred: etcdserver: leader changed"}
            body = status_body(code, reasons.get(code, ""), messages.get(code, "injected failure"))
            headers = []
            if rule.get("retry_after") is not None:
                headers.append(("Retry-After", str(rule["retry_after"])))
            self.send_json(code, body, headers)

    def abort_connection(self):
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        raise ConnectionAbortedError("injected")

    def send_json(self, code, body, headers=()):
        data = (json.dumps(body, separators=(",", ":")) + "\n").encode()
        self.send_response(code)
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Type", "application/json")
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (ConnectionAbortedError, ConnectionResetError, BrokenPipeError, ssl.SSLError):
            self.close_connection = True

    # ---- the API proper ----
    def authenticate(self, token):
        fake = self.fake
        if token is None:
            return "system:anonymous"
        if token not in fake.tokens:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        return "system:serviceaccount:infrastructure:ha-sync"

    def authorize(self, user, verb, ns, name):
        if user == "system:anonymous" or verb in self.fake.deny:
            who = ('leases.coordination.k8s.io "%s"' % name) if name else "leases.coordination.k8s.io"
            raise ApiError(403, "Forbidden", '%s is forbidden: User "%s" cannot %s resource "leases" in API group '
                           '"coordination.k8s.io" in the namespace "%s"' % (who, user, verb, ns),
                           {"name": name, "group": GROUP, "kind": "leases"} if name else
                           {"group": GROUP, "kind": "leases"})

    def handle_api(self, method, path, query, raw, token, entry):
        fake = self.fake
        user = self.authenticate(token)
        entry["user"] = user
        if method == "GET" and path in ("/version", "/version/"):
            return 200, {"major": "1", "minor": "32", "gitVersion": "v1.32.4-fake", "gitCommit": "fake",
                         "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23",
                         "compiler": "gc", "platform": "linux/amd64"}, []
        if method == "GET" and path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:%d" % fake.api_port}]}, []
        if method == "GET" and path == "/api/v1":
            return 200, {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
                {"name": "namespaces", "singularName": "namespace", "namespaced": False, "kind": "Namespace",
                 "verbs": ["get", "list"], "shortNames": ["ns"]}]}, []
        if method == "GET" and path == "/apis":
            gv = {"groupVersion": GROUP_VERSION, "version": "v1"}
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": GROUP, "versions": [gv], "preferredVersion": gv}]}, []
        if method == "GET" and path == "/apis/" + GROUP_VERSION:
            return 200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GROUP_VERSION, "resources": [
                {"name": "leases", "singularName": "lease", "namespaced": True, "kind": "Lease",
                 "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]}]}, []
        m = NAMESPACE_PATH.match(path)
        if m and method == "GET":
            ns = m.group(1)
            with fake.lock:
                if ns not in fake.namespaces:
                    raise ApiError(404, "NotFound", 'namespaces "%s" not found' % ns, {"name": ns, "kind": "namespaces"})
            return 200, {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": ns},
                         "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}, []
        m = LEASE_PATH.match(path)
        if not m:
            raise ApiError(404, "NotFound", "the server could not find the requested resource",
                           {"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]})
        ns, name = m.group(1), m.group(2)
        with fake.lock:
            if name is None:
                if method == "GET":
                    self.authorize(user, "list", ns, "")
                    items = [copy.deepcopy(o) for (n, _), o in sorted(fake.leases.items()) if n == ns]
                    return 200, {"kind": "LeaseList", "apiVersion": GROUP_VERSION,
                                 "metadata": {"resourceVersion": str(fake.rv)}, "items": items}, []
                if method == "POST":
                    self.authorize(user, "create", ns, "")
                    return self.create(ns, raw)
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            if method == "GET":
                self.authorize(user, "get", ns, name)
                return 200, copy.deepcopy(self.existing(ns, name)), []
            if method == "PUT":
                self.authorize(user, "update", ns, name)
                return self.replace(ns, name, raw, user)
            if method == "DELETE":
                self.authorize(user, "delete", ns, name)
                return self.delete(ns, name, raw)
            if method == "PATCH":
                self.authorize(user, "patch", ns, name)
                return self.patch(ns, name, raw)
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    def manager(self):
        return (self.headers.get("User-Agent") or "unknown").split("/")[0]

    def existing(self, ns, name):
        obj = self.fake.leases.get((ns, name))
        if obj is None:
            raise ApiError(404, "NotFound", 'leases.coordination.k8s.io "%s" not found' % name, lease_details(name))
        return obj

    def warnings_headers(self, warnings):
        return [("Warning", '299 - "%s"' % w.replace('"', '\\"')) for w in warnings]

    def create(self, ns, raw):
        fake = self.fake
        meta, spec, warnings = decode_lease(raw)
        if ns not in fake.namespaces:
            raise ApiError(404, "NotFound", 'namespaces "%s" not found' % ns, {"name": ns, "kind": "namespaces"})
        if meta.get("namespace") and meta["namespace"] != ns:
            raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the namespace "
                           "sent on the request")
        name = meta.get("name") or ""
        validate(name, spec)
        if meta.get("resourceVersion") not in (None, "", "0"):
            raise ApiError(500, "", "resourceVersion should not be set on objects to be created")
        if (ns, name) in fake.leases:
            raise ApiError(409, "AlreadyExists", 'leases.coordination.k8s.io "%s" already exists' % name,
                           lease_details(name))
        obj = fake.canonical(name, ns, str(uuid.uuid4()), fake.next_rv(), format_seconds(now_utc()), meta, spec,
                             self.manager())
        fake.leases[(ns, name)] = obj
        return 201, copy.deepcopy(obj), self.warnings_headers(warnings)

    def replace(self, ns, name, raw, user):
        fake = self.fake
        meta, spec, warnings = decode_lease(raw)
        body_name = meta.get("name") or ""
        if body_name != name:
            raise ApiError(400, "BadRequest", "the name of the object (%s) does not match the name on the URL (%s)"
                           % (body_name, name))
        if meta.get("namespace") and meta["namespace"] != ns:
            raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the namespace "
                           "sent on the request")
        uid = meta.get("uid") or ""
        rv = meta.get("resourceVersion") or ""
        stored = fake.leases.get((ns, name))
        if stored is None:
            if uid:  # the uid is a storage precondition, checked against an empty object
                raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on leases.coordination.k8s.io "%s": '
                               'StorageError: invalid object, Code: 4, Key: /registry/leases/%s/%s, ResourceVersion: 0, '
                               'AdditionalErrorMsg: Precondition failed: UID in precondition: %s, UID in object meta: '
                               % (name, ns, name, uid), lease_details(name))
            self.authorize(user, "create", ns, name)  # a PUT that creates is also authorized as create
            if ns not in fake.namespaces:
                raise ApiError(404, "NotFound", 'namespaces "%s" not found' % ns, {"name": ns, "kind": "namespaces"})
            validate(name, spec)
            obj = fake.canonical(name, ns, str(uuid.uuid4()), fake.next_rv(), format_seconds(now_utc()), meta, spec,
                                 self.manager())
            fake.leases[(ns, name)] = obj
            return 201, copy.deepcopy(obj), self.warnings_headers(warnings)
        smeta = stored["metadata"]
        if uid and uid != smeta["uid"]:
            raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on leases.coordination.k8s.io "%s": '
                           'StorageError: invalid object, Code: 4, Key: /registry/leases/%s/%s, ResourceVersion: 0, '
                           'AdditionalErrorMsg: Precondition failed: UID in precondition: %s, UID in object meta: %s'
                           % (name, ns, name, uid, smeta["uid"]), lease_details(name))
        if rv in ("", "0"):
            msg = "Invalid value: 0x0: must be specified for an update"
            raise ApiError(422, "Invalid", 'leases.coordination.k8s.io "%s" is invalid: metadata.resourceVersion: %s'
                           % (name, msg), {"name": name, "group": GROUP, "kind": "leases", "causes": [
                               {"reason": "FieldValueInvalid", "message": msg, "field": "metadata.resourceVersion"}]})
        if not rv.isdigit():
            raise ApiError(500, "InternalError", 'Internal error occurred: resourceVersion: Invalid value: "%s": '
                           'resource version is not well formed: %s' % (rv, rv),
                           {"causes": [{"message": "resource version is not well formed: %s" % rv}]})
        if rv != smeta["resourceVersion"]:
            raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on leases.coordination.k8s.io "%s": the '
                           'object has been modified; please apply your changes to the latest version and try again'
                           % name, lease_details(name))
        validate(name, spec)
        return self.store_update(ns, name, stored, meta, spec, warnings)

    def store_update(self, ns, name, stored, meta, spec, warnings):
        fake = self.fake
        smeta = stored["metadata"]
        candidate = fake.canonical(name, ns, smeta["uid"], smeta["resourceVersion"], smeta["creationTimestamp"],
                                   meta, spec, self.manager())
        same = (candidate["spec"] == stored["spec"] and
                {k: v for k, v in candidate["metadata"].items() if k != "managedFields"} ==
                {k: v for k, v in smeta.items() if k != "managedFields"})
        if same:  # byte-identical result: a no-op keeps the resourceVersion
            return 200, copy.deepcopy(stored), self.warnings_headers(warnings)
        candidate["metadata"]["resourceVersion"] = fake.next_rv()
        fake.leases[(ns, name)] = candidate
        return 200, copy.deepcopy(candidate), self.warnings_headers(warnings)

    def patch(self, ns, name, raw):
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype not in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            raise ApiError(415, "UnsupportedMediaType", 'the body of the request was in an unknown format - accepted '
                           'media types include: application/json-patch+json, application/merge-patch+json, '
                           'application/apply-patch+yaml, application/strategic-merge-patch+json')
        stored = self.existing(ns, name)
        try:
            patch = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise ApiError(400, "BadRequest", "error decoding patch: %s" % e)
        merged = merge_patch(stored, patch)
        meta, spec, warnings = decode_lease(json.dumps(merged).encode())
        rv = meta.get("resourceVersion") or ""
        if rv and rv != stored["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on leases.coordination.k8s.io "%s": the '
                           'object has been modified; please apply your changes to the latest version and try again'
                           % name, lease_details(name))
        validate(name, spec)
        return self.store_update(ns, name, stored, meta, spec, warnings)

    def delete(self, ns, name, raw):
        fake = self.fake
        stored = self.existing(ns, name)
        options = {}
        if raw:
            try:
                options = json.loads(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as e:
                raise ApiError(400, "BadRequest", "error decoding DeleteOptions: %s" % e)
            if not isinstance(options, dict) or options.get("kind") not in (None, "DeleteOptions") or \
                    options.get("apiVersion") not in (None, "v1", "meta.k8s.io/v1", GROUP_VERSION):
                raise ApiError(400, "BadRequest", "the body of the request is not a DeleteOptions object")
        pre = options.get("preconditions") or {}
        smeta = stored["metadata"]
        if pre.get("uid") and pre["uid"] != smeta["uid"]:
            raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on Lease.coordination.k8s.io "%s": the '
                           'UID in the precondition (%s) does not match the UID in record (%s). The object might have '
                           'been deleted and then recreated' % (name, pre["uid"], smeta["uid"]),
                           lease_details(name, "Lease"))
        if pre.get("resourceVersion") and pre["resourceVersion"] != smeta["resourceVersion"]:
            raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on Lease.coordination.k8s.io "%s": the '
                           'ResourceVersion in the precondition (%s) does not match the ResourceVersion in record (%s). '
                           'The object might have been modified' % (name, pre["resourceVersion"],
                                                                   smeta["resourceVersion"]),
                           lease_details(name, "Lease"))
        del fake.leases[(ns, name)]
        fake.next_rv()
        return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                     "details": {"name": name, "group": GROUP, "kind": "leases", "uid": smeta["uid"]}}, []


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, fake, ssl_context, generation):
        super().__init__(addr, ApiHandler)
        self.fake = fake
        self.ssl_context = ssl_context
        self.generation = generation

    def finish_request(self, request, client_address):
        # TLS per connection in the connection's own thread, so one stalled
        # client cannot block the accept loop.
        if self.fake.down or self.generation != self.fake.generation:
            request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            request.close()
            return
        request.settimeout(10)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            request.close()  # e.g. the client refused our certificate
            return
        tls.settimeout(None)
        try:
            self.RequestHandlerClass(tls, client_address, self)
        except (ConnectionAbortedError, ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError):
            pass
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def shutdown_request(self, request):
        try:
            request.close()
        except OSError:
            pass

    def handle_error(self, request, client_address):
        pass


class ControlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def do_GET(self):
        fake = self.server.fake
        with fake.lock:
            if self.path == "/log":
                return self.reply(200, fake.log)
            if self.path == "/state":
                return self.reply(200, {"resourceVersion": str(fake.rv), "sni": fake.sni,
                                        "leases": [copy.deepcopy(o) for _, o in sorted(fake.leases.items())]})
        self.reply(404, {"error": "unknown path"})

    def do_DELETE(self):
        fake = self.server.fake
        with fake.lock:
            if self.path == "/log":
                fake.log = []
                return self.reply(200, {})
            if self.path == "/faults":
                fake.rules = []
                return self.reply(200, {})
        self.reply(404, {"error": "unknown path"})

    def do_POST(self):
        fake = self.server.fake
        try:
            req = self.body()
            if self.path == "/faults":
                with fake.lock:
                    fake.rules.extend(req.get("rules", []))
                return self.reply(200, {})
            if self.path == "/op":
                return self.reply(200, fake.op(req))
            if self.path == "/reset":
                fake.reset(req["token"])
                return self.reply(200, {"api_port": fake.api_port})
        except (KeyError, ValueError) as e:
            return self.reply(400, {"error": str(e)})
        self.reply(404, {"error": "unknown path"})


class ControlServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr, fake):
        super().__init__(addr, ControlHandler)
        self.fake = fake


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cert", required=True, help="server certificate chain (PEM)")
    ap.add_argument("--key", required=True, help="server private key (PEM)")
    ap.add_argument("--token", required=True, help="the one valid bearer token at start")
    ap.add_argument("--token-file", help="write the valid token here (and on rotation)")
    ap.add_argument("--namespaces", default="infrastructure,default,kube-system")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()

    fake = Fake(args.token, args.token_file, args.namespaces.split(","))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)

    def record_sni(_sock, server_name, _ctx):
        with fake.lock:
            fake.sni.append(server_name)
    ctx.sni_callback = record_sni
    fake.ssl_context = ctx
    fake.start_api(args.port)
    control = ControlServer(("127.0.0.1", 0), fake)
    threading.Thread(target=control.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    print("READY %d %d" % (fake.api_port, control.server_address[1]), flush=True)
    try:
        # Runs until stdin closes (the test process ended) or a signal arrives.
        sys.stdin.read()
    except KeyboardInterrupt:
        pass
    fake.shutdown.set()


if __name__ == "__main__":
    main()

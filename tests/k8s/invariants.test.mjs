// What the rendered k8s/ must contain, stated independently of the
// generator (docs/deploy.md, "What gets deployed"): twelve
// CronJobs wired to the right pair's volumes in the right direction, dry-run
// by default, the UI, and RBAC for exactly the Lease verbs.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { idOf, render } from './lib/render.mjs';
import { K8S_DIR, REPO } from './lib/paths.mjs';

const NS = 'infrastructure';
const CAPACITY = { media: '2Ti', photos: '500Gi', owncloud: '500Gi', games: '500Gi', infra: '100Gi', ai: '500Gi' };
const SERVER = { dell: '192.168.2.100', hp: '192.168.2.193' };
const SCHEDULE = { 'dell-to-hp': '*/15 * * * *', 'hp-to-dell': '7,22,37,52 * * * *' };
const LOG_DIR = '/var/log/ha-sync';

const objects = render();
const all = (kind) => objects.filter((o) => o.kind === kind);
const one = (kind, name) => {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name === name);
  assert.equal(found.length, 1, `expected one ${kind} ${name}, found ${found.length}`);
  return found[0];
};
const flag = (args, name) => {
  const hits = args.filter((a) => a === name || a.startsWith(name + '='));
  return hits.length === 1 ? (hits[0].includes('=') ? hits[0].slice(name.length + 1) : true) : hits.length;
};

// The PV (following PVC -> volumeName) behind a pod volume.
function volumeBackend(pod, volumeName) {
  const v = pod.volumes.find((x) => x.name === volumeName);
  assert.ok(v?.persistentVolumeClaim, `volume ${volumeName} is not a PVC`);
  const pvc = one('PersistentVolumeClaim', v.persistentVolumeClaim.claimName);
  const pv = one('PersistentVolume', pvc.spec.volumeName);
  return { pvc, pv };
}

test('every namespaced object is in infrastructure; PVs are cluster-scoped', () => {
  for (const o of objects) {
    if (o.kind === 'PersistentVolume') assert.equal(o.metadata.namespace, undefined, idOf(o));
    else assert.equal(o.metadata.namespace, NS, idOf(o));
  }
});

test('exactly twelve CronJobs: two directions for each of the six pairs', () => {
  const want = Object.keys(CAPACITY).flatMap((p) => [`ha-sync-${p}-dell-to-hp`, `ha-sync-${p}-hp-to-dell`]).sort();
  assert.deepEqual(all('CronJob').map((c) => c.metadata.name).sort(), want);
});

for (const pair of Object.keys(CAPACITY)) {
  for (const direction of ['dell-to-hp', 'hp-to-dell']) {
    const [from, , to] = direction.split('-');
    const name = `ha-sync-${pair}-${direction}`;
    test(`${name}: schedule, args and volumes match its name`, () => {
      const cj = one('CronJob', name);
      assert.equal(cj.spec.schedule, SCHEDULE[direction]);
      assert.equal(cj.spec.concurrencyPolicy, 'Forbid');
      const pod = cj.spec.jobTemplate.spec.template.spec;
      assert.equal(pod.serviceAccountName, 'ha-sync');
      assert.equal(pod.restartPolicy, 'Never');
      assert.equal(pod.containers.length, 1);
      const c = pod.containers[0];
      assert.equal(c.command, undefined, 'runs the image entrypoint (ha-sync)');
      const args = c.args;
      assert.equal(flag(args, '--dry-run'), true, '--dry-run present once');
      assert.equal(args[0], '--dry-run', '--dry-run first (k8s/patches/go-live.yaml removes args/0)');
      assert.equal(flag(args, '--src'), `/mnt/${from}/${pair}`);
      assert.equal(flag(args, '--dest'), `/mnt/${to}/${pair}`);
      assert.equal(flag(args, '--pair'), pair);
      assert.equal(flag(args, '--direction'), direction);
      assert.equal(flag(args, '--log-dir'), LOG_DIR);
      assert.equal(flag(args, '--delete-missing'), 0, 'no deletes by default');
      assert.equal(flag(args, '--db-dsn'), 0, 'the DSN comes from the environment');

      const mounts = new Map(c.volumeMounts.map((m) => [m.mountPath, m]));
      for (const [side, server] of [['src', from], ['dest', to]]) {
        const m = mounts.get(`/mnt/${server}/${pair}`);
        assert.ok(m, `${side} /mnt/${server}/${pair} is mounted`);
        assert.equal(m.readOnly === true, side === 'src', `${side} mount is ${side === 'src' ? 'read-only' : 'writable'}`);
        const { pvc, pv } = volumeBackend(pod, m.name);
        assert.equal(pvc.metadata.name, `pvc-ha-sync-${server}-${pair}`);
        assert.deepEqual(pv.spec.nfs, { server: SERVER[server], path: `/data/${pair}` });
        assert.equal(pv.spec.capacity.storage, CAPACITY[pair]);
      }
      const logs = mounts.get(LOG_DIR);
      assert.ok(logs && !logs.readOnly, 'logs volume mounted writable');
      assert.equal(volumeBackend(pod, logs.name).pvc.metadata.name, 'pvc-ha-sync-logs');
      const tmp = mounts.get('/tmp');
      assert.ok(tmp && pod.volumes.find((v) => v.name === tmp.name).emptyDir, 'emptyDir at /tmp for the delete spool');
      assert.equal(c.volumeMounts.length, 4, 'nothing else is mounted');

      assert.deepEqual(c.envFrom, [{ secretRef: { name: 'ha-sync-db-secret' } }]);
      assert.ok(!(c.env ?? []).some((e) => /DSN|PASS/i.test(e.name)), 'no DSN or password literal in env');
      const host = (c.env ?? []).find((e) => e.name === 'HOSTNAME');
      assert.equal(host?.valueFrom?.fieldRef?.fieldPath, 'metadata.name');
      const labels = cj.spec.jobTemplate.spec.template.metadata.labels;
      assert.equal(labels['ha-sync/pair'], pair);
      assert.equal(labels['ha-sync/direction'], direction);
    });
  }
}

test('PV and PVC per server per pair, statically bound, Retain, seed capacities', () => {
  for (const [pair, capacity] of Object.entries(CAPACITY)) {
    for (const server of Object.keys(SERVER)) {
      const pv = one('PersistentVolume', `pv-ha-sync-${server}-${pair}`);
      const pvc = one('PersistentVolumeClaim', `pvc-ha-sync-${server}-${pair}`);
      assert.equal(pv.spec.persistentVolumeReclaimPolicy, 'Retain');
      assert.deepEqual(pv.spec.accessModes, ['ReadWriteMany']);
      assert.equal(pv.spec.storageClassName, '');
      assert.deepEqual(pv.spec.claimRef, { namespace: NS, name: pvc.metadata.name });
      assert.equal(pvc.spec.storageClassName, '');
      assert.equal(pvc.spec.volumeName, pv.metadata.name);
      assert.equal(pvc.spec.resources.requests.storage, capacity);
    }
  }
  assert.equal(all('PersistentVolume').length, 13);
  assert.equal(all('PersistentVolumeClaim').length, 13);
});

test('logs volume: NFS 192.168.2.193:/data/infra/ha-sync-logs, 10Gi, RWX', () => {
  const pvc = one('PersistentVolumeClaim', 'pvc-ha-sync-logs');
  const pv = one('PersistentVolume', pvc.spec.volumeName);
  assert.deepEqual(pv.spec.nfs, { server: '192.168.2.193', path: '/data/infra/ha-sync-logs' });
  assert.equal(pv.spec.capacity.storage, '10Gi');
  assert.deepEqual(pv.spec.accessModes, ['ReadWriteMany']);
  assert.deepEqual(pvc.spec.accessModes, ['ReadWriteMany']);
  assert.equal(pvc.spec.storageClassName, '');
  assert.equal(pv.spec.persistentVolumeReclaimPolicy, 'Retain');
});

test('every PVC a pod mounts exists, and every PVC is mounted by something', () => {
  const claims = new Set(all('PersistentVolumeClaim').map((c) => c.metadata.name));
  const used = new Set();
  for (const o of objects) {
    const pod = o.kind === 'CronJob' ? o.spec.jobTemplate.spec.template.spec : o.spec?.template?.spec;
    for (const v of pod?.volumes ?? []) {
      if (!v.persistentVolumeClaim) continue;
      assert.ok(claims.has(v.persistentVolumeClaim.claimName), `${idOf(o)} mounts missing ${v.persistentVolumeClaim.claimName}`);
      used.add(v.persistentVolumeClaim.claimName);
    }
  }
  assert.deepEqual([...claims].filter((c) => !used.has(c)), []);
});

test('RBAC: a Role granting exactly create/get/update/delete on leases, bound to ha-sync', () => {
  assert.equal(all('ClusterRole').length + all('ClusterRoleBinding').length, 0);
  const roles = all('Role');
  assert.equal(roles.length, 1);
  const verbs = new Set();
  const named = new Set();
  for (const r of roles[0].rules) {
    assert.deepEqual(r.apiGroups, ['coordination.k8s.io']);
    assert.deepEqual(r.resources, ['leases']);
    r.verbs.forEach((v) => verbs.add(v));
    if (r.resourceNames) {
      r.resourceNames.forEach((n) => named.add(n));
    } else {
      assert.deepEqual(r.verbs, ['create'], 'only create is granted for every name');
    }
  }
  assert.deepEqual([...verbs].sort(), ['create', 'delete', 'get', 'update']);
  // The Lease of every pair (ha-sync-<pair>) must be reachable.
  assert.deepEqual([...named].sort(), Object.keys(CAPACITY).map((p) => `ha-sync-${p}`).sort());
  const rb = all('RoleBinding');
  assert.equal(rb.length, 1);
  assert.deepEqual(rb[0].roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: roles[0].metadata.name });
  assert.deepEqual(rb[0].subjects, [{ kind: 'ServiceAccount', name: 'ha-sync', namespace: NS }]);
  one('ServiceAccount', 'ha-sync');
});

test('UI: one replica of ha-sync-ui on 8080, readiness on /healthz, liveness on the port, read-only DSN from the secret', () => {
  const d = one('Deployment', 'ha-sync-ui');
  assert.equal(d.spec.replicas, 1);
  const c = d.spec.template.spec.containers[0];
  assert.match(c.command.at(-1), /(^|\/)ha-sync-ui$/);
  assert.equal(c.args.join(' '), '--listen 0.0.0.0:8080');
  const port = c.ports.find((p) => p.containerPort === 8080);
  assert.ok(port);
  assert.equal(c.readinessProbe.httpGet.path, '/healthz');
  assert.ok(c.readinessProbe.httpGet.port === 8080 || c.readinessProbe.httpGet.port === port.name);
  // Liveness on the port only: /healthz is 503 while the database is down.
  assert.equal(c.livenessProbe.httpGet, undefined);
  assert.ok(c.livenessProbe.tcpSocket.port === 8080 || c.livenessProbe.tcpSocket.port === port.name);
  const dsn = c.env.find((e) => e.name === 'HA_SYNC_DB_DSN');
  assert.equal(dsn.valueFrom.secretKeyRef.name, 'ha-sync-db-secret');
  assert.equal(c.envFrom, undefined, 'the UI does not see the writer DSN');
  // Basic auth from a Secret key; not optional, so a missing Secret keeps
  // the pod from starting instead of serving without auth.
  const auth = c.env.filter((e) => e.name === 'HA_SYNC_UI_BASIC_AUTH');
  assert.equal(auth.length, 1, 'HA_SYNC_UI_BASIC_AUTH is set once');
  assert.deepEqual(auth[0].valueFrom, { secretKeyRef: { name: 'ha-sync-ui-auth', key: 'users' } });
  assert.equal(auth[0].value, undefined, 'no credential literal in the manifest');
  assert.ok(!c.args.some((a) => a.startsWith('--auth-file')), 'one auth source: the env');
  assert.equal(d.spec.template.spec.automountServiceAccountToken, false);

  const svc = one('Service', 'ha-sync-ui');
  assert.equal(svc.spec.type, 'ClusterIP');
  assert.equal(svc.spec.ports[0].port, 8080);
  assert.ok([8080, port.name].includes(svc.spec.ports[0].targetPort));
  for (const [k, v] of Object.entries(svc.spec.selector)) assert.equal(d.spec.template.metadata.labels[k], v);

  const ing = one('Ingress', 'ha-sync-ui');
  assert.equal(ing.spec.rules[0].host, 'ha-sync.vandachevici.ro');
  assert.deepEqual(ing.spec.rules[0].http.paths[0].backend.service, { name: 'ha-sync-ui', port: { number: 8080 } });
  assert.deepEqual(ing.spec.tls[0].hosts, ['ha-sync.vandachevici.ro']);
  assert.ok(ing.spec.tls[0].secretName);
  assert.ok(Object.keys(ing.metadata.annotations).some((k) => k.startsWith('cert-manager.io/')));
});

test('the UI probe route is one ha-sync-ui serves', (t) => {
  const httpDir = join(REPO, 'src', 'http');
  if (!existsSync(httpDir)) {
    t.skip('src/http (ha-sync-ui) is not in this tree yet');
    return;
  }
  const sources = readdirSync(httpDir).filter((f) => /\.(cc|h)$/.test(f)).map((f) => readFileSync(join(httpDir, f), 'utf8'));
  assert.ok(sources.some((s) => s.includes('"/healthz"')), 'src/http serves "/healthz"');
});

test('one image for every workload, pinned', () => {
  const images = new Set();
  for (const o of objects) {
    const pod = o.kind === 'CronJob' ? o.spec.jobTemplate.spec.template.spec : o.spec?.template?.spec;
    for (const c of pod?.containers ?? []) images.add(c.image);
  }
  assert.equal(images.size, 1, [...images].join(', '));
  assert.doesNotMatch([...images][0], /:latest$/);
});

test('no Secret is rendered; k8s/secret.yaml is instructions only', () => {
  assert.equal(all('Secret').length, 0);
  const text = readFileSync(join(K8S_DIR, 'secret.yaml'), 'utf8');
  const live = text.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
  assert.deepEqual(live, [], 'secret.yaml has only comments');
  assert.match(text, /kubectl create secret generic ha-sync-db-secret/);
  assert.match(text, /kubectl create secret generic ha-sync-ui-auth -n infrastructure\s*\\\n#\s+--from-literal=users=/);
  const kustomization = readFileSync(join(K8S_DIR, 'kustomization.yaml'), 'utf8');
  assert.doesNotMatch(kustomization.replace(/#.*$/gm, ''), /secret\.yaml/);
});

test('every ha-sync flag the CronJobs and k8s/patches pass exists in src/cli/options.cc', () => {
  const options = readFileSync(join(REPO, 'src', 'cli', 'options.cc'), 'utf8');
  // Flags are declared in a FlagTable: .Text("src", ...), .Switch("dry-run", ...), ...
  const declared = /^\s*(?:t)?\.(?:Text|Value|List|Count|Decimal|Choice|Switch)\("([a-z][a-z0-9-]*)"\s*,/gm;
  const known = new Set([...options.matchAll(declared)].map((m) => m[1]));
  assert.ok(known.has('src') && known.has('dry-run') && known.has('max-delete'), 'options.cc parsed');
  const used = new Set();
  for (const cj of all('CronJob')) {
    for (const a of cj.spec.jobTemplate.spec.template.spec.containers[0].args) used.add(a);
  }
  for (const f of readdirSync(join(K8S_DIR, 'patches'))) {
    for (const m of readFileSync(join(K8S_DIR, 'patches', f), 'utf8').matchAll(/value: (--\S+)/g)) used.add(m[1]);
  }
  const unknown = [...used].map((a) => a.replace(/^--/, '').split('=')[0]).filter((f) => !known.has(f));
  assert.deepEqual(unknown, [], 'flags not (yet) defined by ha-sync');
});

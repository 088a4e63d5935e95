// The project policy lint (lib/policy.mjs, the rules as decided for
// ha-sync): the rendered set passes, and each rule catches the
// mistake it exists for.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lint, parseCron } from './lib/policy.mjs';
import { render } from './lib/render.mjs';

test('the rendered k8s/ set passes the policy lint', () => {
  assert.deepEqual(lint(render()), []);
});

const cronJob = (objs) => objs.find((o) => o.kind === 'CronJob' && o.metadata.name === 'ha-sync-media-dell-to-hp');
const job = (objs) => cronJob(objs).spec.jobTemplate.spec;
const syncPod = (objs) => job(objs).template.spec;
const sync = (objs) => syncPod(objs).containers[0];
const uiPod = (objs) => objs.find((o) => o.kind === 'Deployment').spec.template.spec;
const ui = (objs) => uiPod(objs).containers[0];
const byKind = (kind) => (objs) => objs.find((o) => o.kind === kind);

// [what, mutate(objects), expected message pattern]
const MUTATIONS = [
  ['overlapping runs allowed', (o) => { cronJob(o).spec.concurrencyPolicy = 'Allow'; }, /concurrencyPolicy must be Forbid/],
  ['no starting deadline', (o) => { delete cronJob(o).spec.startingDeadlineSeconds; }, /startingDeadlineSeconds must be set/],
  ['starting deadline too small', (o) => { cronJob(o).spec.startingDeadlineSeconds = 5; }, /startingDeadlineSeconds must be set and >= 10/],
  ['starting deadline beyond the interval', (o) => { cronJob(o).spec.startingDeadlineSeconds = 900; }, /below the schedule interval \(900 s\)/],
  ['bad cron', (o) => { cronJob(o).spec.schedule = '*/15 * * *'; }, /not a 5-field cron/],
  ['time zone inside the schedule', (o) => { cronJob(o).spec.schedule = 'CRON_TZ=UTC */15 * * * *'; }, /use spec.timeZone/],
  ['no time zone', (o) => { delete cronJob(o).spec.timeZone; }, /timeZone must be set/],
  ['no history limit', (o) => { delete cronJob(o).spec.failedJobsHistoryLimit; }, /failedJobsHistoryLimit must be set/],
  ['default backoff', (o) => { delete job(o).backoffLimit; }, /backoffLimit must be set to 0-2 \(got default 6\)/],
  ['no active deadline', (o) => { delete job(o).activeDeadlineSeconds; }, /activeDeadlineSeconds must be set/],
  ['active deadline outlives the lease', (o) => { job(o).activeDeadlineSeconds = 3500; }, /activeDeadlineSeconds 3500 \+ grace 120 must stay within --lock-ttl 3600 - 60 s/],
  ['lock ttl lowered below the deadline', (o) => { sync(o).args = sync(o).args.map((a) => a.startsWith('--lock-ttl') ? '--lock-ttl=600' : a); }, /within --lock-ttl 600/],
  ['lock ttl with no room for a renew', (o) => { sync(o).args = sync(o).args.map((a) => a.startsWith('--lock-ttl') ? '--lock-ttl=90' : a); }, /leaves no time between a renew/],
  ['no ttlSecondsAfterFinished', (o) => { delete job(o).ttlSecondsAfterFinished; }, /ttlSecondsAfterFinished must be set/],
  ['restartPolicy Always', (o) => { syncPod(o).restartPolicy = 'Always'; }, /restartPolicy must be Never or OnFailure/],
  ['short grace period', (o) => { syncPod(o).terminationGracePeriodSeconds = 30; }, /too short to stop and release the Lease/],
  ['default service account', (o) => { syncPod(o).serviceAccountName = 'default'; }, /serviceAccountName must be set/],
  ['sync pod without token', (o) => { syncPod(o).automountServiceAccountToken = false; }, /needs its service-account token/],
  ['no seccomp profile', (o) => { delete syncPod(o).securityContext.seccompProfile; }, /seccompProfile.type must be RuntimeDefault/],
  ['implicit root', (o) => { delete syncPod(o).securityContext.runAsNonRoot; }, /running as root must be explicit/],
  ['root UI', (o) => { uiPod(o).securityContext = { runAsUser: 0, runAsNonRoot: false, seccompProfile: { type: 'RuntimeDefault' } }; }, /only sync pods may run as root/],
  ['UI without runAsNonRoot', (o) => { delete uiPod(o).securityContext.runAsNonRoot; }, /runAsNonRoot must be true/],
  ['privilege escalation', (o) => { delete sync(o).securityContext.allowPrivilegeEscalation; }, /allowPrivilegeEscalation must be false/],
  ['privileged', (o) => { sync(o).securityContext.privileged = true; }, /must not be privileged/],
  ['writable root filesystem', (o) => { sync(o).securityContext.readOnlyRootFilesystem = false; }, /readOnlyRootFilesystem must be true/],
  ['capabilities not dropped', (o) => { sync(o).securityContext.capabilities.drop = []; }, /drop must include ALL/],
  ['SYS_ADMIN added', (o) => { sync(o).securityContext.capabilities.add.push('SYS_ADMIN'); }, /capability SYS_ADMIN is not allowed/],
  ['DAC_READ_SEARCH added (not in the baseline Pod Security level)', (o) => { sync(o).securityContext.capabilities.add.push('DAC_READ_SEARCH'); }, /capability DAC_READ_SEARCH/],
  ['capability on the non-root UI', (o) => { ui(o).securityContext.capabilities.add = ['CHOWN']; }, /capability CHOWN is not allowed for a non-root pod/],
  ['no memory limit', (o) => { delete sync(o).resources.limits; }, /resources.limits.memory must be set/],
  ['no cpu request', (o) => { delete ui(o).resources.requests.cpu; }, /resources.requests.cpu must be set/],
  ['latest image', (o) => { sync(o).image = 'registry:5000/ha-sync:latest'; }, /must be pinned/],
  ['untagged image', (o) => { ui(o).image = 'registry:5000/ha-sync'; }, /must be pinned/],
  ['no /tmp for the spool', (o) => { sync(o).volumeMounts = sync(o).volumeMounts.filter((m) => m.mountPath !== '/tmp'); }, /needs an emptyDir at \/tmp/],
  ['no pod name for the holder identity', (o) => { sync(o).env = []; }, /HOSTNAME \(or POD_NAME\) must come from fieldRef/],
  ['DSN in args', (o) => { sync(o).args.push('--db-dsn=$(HA_SYNC_DB_DSN)'); }, /no --db-dsn argument/],
  ['unknown claim', (o) => { syncPod(o).volumes[0].persistentVolumeClaim.claimName = 'pvc-nope'; }, /refers to PVC pvc-nope, which is not in the set/],
  ['mount without volume', (o) => { sync(o).volumeMounts.push({ name: 'ghost', mountPath: '/ghost' }); }, /volumeMount ghost has no volume/],
  ['probe on a missing port', (o) => { ui(o).readinessProbe.httpGet.port = 9090; }, /readinessProbe port 9090 is not a container port/],
  ['no liveness probe', (o) => { delete ui(o).livenessProbe; }, /livenessProbe must be set/],
  ['liveness on /healthz', (o) => { ui(o).livenessProbe = { httpGet: { path: '/healthz', port: 'http' } }; }, /livenessProbe must not be \/healthz/],
  ['liveness on a missing port', (o) => { ui(o).livenessProbe.tcpSocket.port = 9090; }, /livenessProbe port 9090 is not a container port/],
  ['PV with Delete reclaim', (o) => { byKind('PersistentVolume')(o).spec.persistentVolumeReclaimPolicy = 'Delete'; }, /must be Retain/],
  ['PV with two sources', (o) => { byKind('PersistentVolume')(o).spec.hostPath = { path: '/x' }; }, /exactly one volume source \(got nfs, hostPath\)/],
  ['PV reserved for a missing claim', (o) => { byKind('PersistentVolume')(o).spec.claimRef.name = 'pvc-nope'; }, /claimRef infrastructure\/pvc-nope is not a PVC/],
  ['PVC without storage class', (o) => { delete byKind('PersistentVolumeClaim')(o).spec.storageClassName; }, /storageClassName must be explicit/],
  ['PVC bound to a missing PV', (o) => { byKind('PersistentVolumeClaim')(o).spec.volumeName = 'pv-nope'; }, /volumeName pv-nope is not a PersistentVolume/],
  ['PVC larger than its PV', (o) => { byKind('PersistentVolumeClaim')(o).spec.resources.requests.storage = '3Ti'; }, /requests more than PV/],
  ['PVC bad access mode', (o) => { byKind('PersistentVolumeClaim')(o).spec.accessModes = ['ReadWriteAlways']; }, /bad access mode/],
  ['Role with list', (o) => { byKind('Role')(o).rules[0].verbs.push('list'); }, /verbs must be exactly create, delete, get, update/],
  ['Role on secrets', (o) => { byKind('Role')(o).rules.push({ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }); }, /may only name coordination.k8s.io leases/],
  ['create restricted by name', (o) => { byKind('Role')(o).rules[1].verbs.push('create'); }, /resourceNames cannot restrict/],
  ['ClusterRole', (o) => { o.push({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'x', labels: { 'app.kubernetes.io/name': 'ha-sync', 'app.kubernetes.io/part-of': 'ha-sync' } }, rules: [] }); }, /cluster-wide RBAC is not allowed/],
  ['RoleBinding subject without namespace', (o) => { delete byKind('RoleBinding')(o).subjects[0].namespace; }, /subjects must be ServiceAccounts of infrastructure/],
  ['RoleBinding to a missing Role', (o) => { byKind('RoleBinding')(o).roleRef.name = 'nope'; }, /roleRef must name a Role in the set/],
  ['object in another namespace', (o) => { byKind('Service')(o).metadata.namespace = 'default'; }, /namespace must be infrastructure \(got default\)/],
  ['uppercase name', (o) => { byKind('ServiceAccount')(o).metadata.name = 'HA-sync'; }, /not a DNS-1123/],
  ['CronJob name too long for its Jobs', (o) => { cronJob(o).metadata.name = 'ha-sync-' + 'x'.repeat(50); }, /limited to 52 characters/],
  ['missing labels', (o) => { delete byKind('Ingress')(o).metadata.labels; }, /labels app.kubernetes.io\/name/],
  ['a rendered Secret', (o) => { o.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'ha-sync-db-secret', namespace: 'infrastructure', labels: { 'app.kubernetes.io/name': 'ha-sync', 'app.kubernetes.io/part-of': 'ha-sync' } } }); }, /Secrets are created by hand/],
  ['Service selecting nothing', (o) => { byKind('Service')(o).spec.selector = { app: 'nope' }; }, /selector matches no pod template/],
  ['Service to a missing port', (o) => { byKind('Service')(o).spec.ports[0].targetPort = 'https'; }, /targetPort https is not a port/],
  ['Ingress host without TLS', (o) => { byKind('Ingress')(o).spec.tls[0].hosts = ['other.example']; }, /has no TLS entry/],
  ['Ingress without cert-manager', (o) => { byKind('Ingress')(o).metadata.annotations = {}; }, /cert-manager issuer annotation missing/],
  ['Ingress to a missing service port', (o) => { byKind('Ingress')(o).spec.rules[0].http.paths[0].backend.service.port.number = 80; }, /backend port is not a port/],
  ['duplicate object', (o) => { o.push(structuredClone(byKind('Service')(o))); }, /defined twice/],
  ['Lease with a bad MicroTime', (o) => { o.push({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'ha-sync-media', namespace: 'infrastructure', labels: { 'app.kubernetes.io/name': 'ha-sync', 'app.kubernetes.io/part-of': 'ha-sync' } }, spec: { leaseDurationSeconds: 3600, renewTime: '2026-01-01T00:00:00.123Z' } }); }, /six fractional digits/],
];

for (const [what, mutate, pattern] of MUTATIONS) {
  test(`policy lint catches: ${what}`, () => {
    const objects = render();
    mutate(objects);
    const found = lint(objects);
    assert.ok(found.some((m) => pattern.test(m)), `expected ${pattern}, got:\n${found.join('\n') || '(nothing)'}`);
  });
}

test('cron parsing: intervals and errors', () => {
  assert.equal(parseCron('*/15 * * * *').minIntervalMinutes, 15);
  assert.equal(parseCron('7,22,37,52 * * * *').minIntervalMinutes, 15);
  assert.equal(parseCron('0,50 * * * *').minIntervalMinutes, 10);
  assert.equal(parseCron('0 3 * * MON').minIntervalMinutes, 1440);
  assert.equal(parseCron('@hourly').minIntervalMinutes, 60);
  assert.match(parseCron('60 * * * *').error, /minute "60" outside 0-59/);
  assert.match(parseCron('* 24 * * *').error, /hour "24"/);
  assert.match(parseCron('*/0 * * * *').error, /bad step/);
  assert.match(parseCron('* * * FOO *').error, /month/);
});

// Project policy lint for rendered manifests: the rules a schema cannot
// express, as decided for
// ha-sync (docs/deploy.md explains each choice). lint(objects) returns one
// message per violation; an empty list means the set passes.
//
// Deliberate differences from the usual lint defaults:
//  - activeDeadlineSeconds is bounded by the lock, not by the schedule
//    interval: activeDeadlineSeconds + terminationGracePeriodSeconds must fit
//    in --lock-ttl minus the 60 s skew margin, so a run ends before its Lease
//    could expire even with no renew. concurrencyPolicy Forbid and the Lease
//    stop overlaps; a first sync of a 2 TiB pair needs more than 15 minutes.
//  - Sync pods may run as root (owner preservation on no_root_squash
//    exports), only with an explicit runAsUser 0 / runAsNonRoot false, all
//    capabilities dropped but CHOWN, DAC_OVERRIDE, FOWNER, FSETID, no
//    privilege escalation and a read-only root filesystem. Every other pod is
//    non-root.
//  - NFS claims are ReadWriteMany: both CronJobs of a pair mount them, and
//    ha-sync's Lease, not the access mode, keeps to one writer.

export const NAMESPACE = 'infrastructure';
export const SKEW_MARGIN_SECONDS = 60; // ha-sync's default Lease clock-skew margin
export const MIN_SYNC_GRACE_SECONDS = 60; // stop in-flight work, footer, Lease DELETE
export const ROOT_CAPABILITIES = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID'];
export const LEASE_VERBS = ['create', 'delete', 'get', 'update'];

const CLUSTER_SCOPED = new Set([
  'PersistentVolume', 'Namespace', 'ClusterRole', 'ClusterRoleBinding', 'StorageClass',
  'CustomResourceDefinition', 'IngressClass', 'PriorityClass', 'Node',
]);
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?\d+))?$/;
const VOLUME_SOURCES = [
  'nfs', 'hostPath', 'local', 'csi', 'iscsi', 'fc', 'rbd', 'cephfs', 'glusterfs', 'azureFile',
  'azureDisk', 'awsElasticBlockStore', 'gcePersistentDisk', 'vsphereVolume', 'cinder',
  'flexVolume', 'flocker', 'photonPersistentDisk', 'portworxVolume', 'quobyte', 'scaleIO',
  'storageos',
];

const id = (o) => `${o.kind} ${o.metadata?.name ?? '<unnamed>'}`;

// ---- cron ------------------------------------------------------------------

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const FIELDS = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS, base: 1 },
  { name: 'day of week', min: 0, max: 7, names: DAYS, base: 0 },
];
const MACROS = {
  '@yearly': 525600, '@annually': 525600, '@monthly': 40320, '@weekly': 10080,
  '@daily': 1440, '@midnight': 1440, '@hourly': 60,
};

function cronValue(text, field) {
  if (/^\d+$/.test(text)) return Number(text);
  const i = field.names ? field.names.indexOf(text.toUpperCase()) : -1;
  return i >= 0 ? i + field.base : NaN;
}

// The set of values a field matches, or an error string.
function cronField(text, field) {
  const values = new Set();
  for (const part of text.split(',')) {
    const m = /^(\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:\/(\d+))?$/.exec(part);
    if (!m) return `bad ${field.name} "${part}"`;
    const step = m[2] === undefined ? 1 : Number(m[2]);
    if (step < 1) return `bad step in ${field.name} "${part}"`;
    let lo = field.min;
    let hi = field.max;
    if (m[1] !== '*') {
      const [a, b] = m[1].split('-');
      lo = cronValue(a, field);
      hi = b === undefined ? (m[2] === undefined ? lo : field.max) : cronValue(b, field);
    }
    if (!(lo >= field.min && hi <= field.max && lo <= hi)) {
      return `${field.name} "${part}" outside ${field.min}-${field.max}`;
    }
    for (let v = lo; v <= hi; v += step) values.add(v);
  }
  return values;
}

// {error} or {minIntervalMinutes}: the shortest gap between two runs within
// a day (a lower bound when the day fields restrict the schedule).
export function parseCron(schedule) {
  if (typeof schedule !== 'string') return { error: 'schedule missing' };
  if (/^\s*(CRON_)?TZ=/.test(schedule)) return { error: 'time zone in schedule: use spec.timeZone' };
  if (MACROS[schedule]) return { minIntervalMinutes: MACROS[schedule] };
  const parts = schedule.trim().split(/\s+/);
  if (parts.length !== 5) return { error: `"${schedule}" is not a 5-field cron expression` };
  const sets = [];
  for (const [i, f] of FIELDS.entries()) {
    const r = cronField(parts[i], f);
    if (typeof r === 'string') return { error: `"${schedule}": ${r}` };
    sets.push(r);
  }
  const times = [];
  for (const h of [...sets[1]].sort((a, b) => a - b)) {
    for (const m of [...sets[0]].sort((a, b) => a - b)) times.push(h * 60 + m);
  }
  let gap = 1440;
  for (let i = 0; i < times.length; i++) {
    const next = i + 1 < times.length ? times[i + 1] : times[0] + 1440;
    gap = Math.min(gap, next - times[i]);
  }
  return { minIntervalMinutes: gap };
}

// ---- helpers ---------------------------------------------------------------

// Pod templates of workload objects: [podSpec, podMeta, jobSpec|null].
function podTemplate(o) {
  if (o.kind === 'CronJob') {
    const job = o.spec?.jobTemplate?.spec;
    return [job?.template?.spec, job?.template?.metadata, job];
  }
  if (o.kind === 'Job') return [o.spec?.template?.spec, o.spec?.template?.metadata, o.spec];
  if (['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet'].includes(o.kind)) {
    return [o.spec?.template?.spec, o.spec?.template?.metadata, null];
  }
  if (o.kind === 'Pod') return [o.spec, o.metadata, null];
  return [null, null, null];
}

// A sync container runs the image's entrypoint (ha-sync), not another command.
const isSyncContainer = (c) => c.command === undefined && (c.args ?? []).some((a) => a.startsWith('--pair'));

function argValue(args, flag) {
  for (const [i, a] of (args ?? []).entries()) {
    if (a === flag) return args[i + 1];
    if (a.startsWith(flag + '=')) return a.slice(flag.length + 1);
  }
  return undefined;
}

function quantityBytes(q) {
  const m = /^(\d+(?:\.\d+)?)([KMGTPE]i|[kMGTPE])?$/.exec(String(q));
  if (!m) return NaN;
  const bin = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
  const dec = { k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
  return Number(m[1]) * (m[2] ? (bin[m[2]] ?? dec[m[2]]) : 1);
}

// ---- rules -----------------------------------------------------------------

function lintCronJob(o, out) {
  const s = o.spec ?? {};
  if (s.concurrencyPolicy !== 'Forbid') out.push(`${id(o)}: spec.concurrencyPolicy must be Forbid (got ${s.concurrencyPolicy ?? 'default Allow'})`);
  const cron = parseCron(s.schedule);
  if (cron.error) out.push(`${id(o)}: spec.schedule: ${cron.error}`);
  if (typeof s.timeZone !== 'string' || s.timeZone === '') out.push(`${id(o)}: spec.timeZone must be set explicitly`);
  const sd = s.startingDeadlineSeconds;
  if (!Number.isInteger(sd) || sd < 10) {
    out.push(`${id(o)}: spec.startingDeadlineSeconds must be set and >= 10 (got ${sd})`);
  } else if (cron.minIntervalMinutes && sd >= cron.minIntervalMinutes * 60) {
    out.push(`${id(o)}: spec.startingDeadlineSeconds ${sd} must be below the schedule interval (${cron.minIntervalMinutes * 60} s)`);
  }
  for (const f of ['successfulJobsHistoryLimit', 'failedJobsHistoryLimit']) {
    if (!Number.isInteger(s[f])) out.push(`${id(o)}: spec.${f} must be set`);
  }
  if (s.suspend !== undefined && typeof s.suspend !== 'boolean') out.push(`${id(o)}: spec.suspend must be a boolean`);
  if ((o.metadata?.name ?? '').length > 52) out.push(`${id(o)}: CronJob names are limited to 52 characters`);
}

function lintJobSpec(o, job, pod, out) {
  if (!Number.isInteger(job.backoffLimit) || job.backoffLimit < 0 || job.backoffLimit > 2) {
    out.push(`${id(o)}: backoffLimit must be set to 0-2 (got ${job.backoffLimit ?? 'default 6'})`);
  }
  if (!Number.isInteger(job.activeDeadlineSeconds) || job.activeDeadlineSeconds <= 0) {
    out.push(`${id(o)}: activeDeadlineSeconds must be set`);
  }
  if (!Number.isInteger(job.ttlSecondsAfterFinished)) out.push(`${id(o)}: ttlSecondsAfterFinished must be set`);
  if (!['Never', 'OnFailure'].includes(pod.restartPolicy)) {
    out.push(`${id(o)}: restartPolicy must be Never or OnFailure (got ${pod.restartPolicy})`);
  }
  if (job.podFailurePolicy && pod.restartPolicy !== 'Never') {
    out.push(`${id(o)}: podFailurePolicy needs restartPolicy Never`);
  }
}

function lintPod(o, pod, meta, job, out, claims) {
  const sync = (pod.containers ?? []).some(isSyncContainer);
  if (!pod.serviceAccountName || pod.serviceAccountName === 'default') {
    out.push(`${id(o)}: serviceAccountName must be set (not default)`);
  }
  if (sync && pod.automountServiceAccountToken === false) {
    out.push(`${id(o)}: the sync pod needs its service-account token for the Lease`);
  }
  const psc = pod.securityContext ?? {};
  if (!['RuntimeDefault', 'Localhost'].includes(psc.seccompProfile?.type)) {
    out.push(`${id(o)}: pod securityContext.seccompProfile.type must be RuntimeDefault (or Localhost)`);
  }
  const root = psc.runAsUser === 0;
  if (root) {
    if (!sync) out.push(`${id(o)}: only sync pods may run as root`);
    if (psc.runAsNonRoot !== false) out.push(`${id(o)}: running as root must be explicit (runAsNonRoot: false)`);
  } else {
    if (psc.runAsNonRoot !== true) out.push(`${id(o)}: pod securityContext.runAsNonRoot must be true`);
    if (!Number.isInteger(psc.runAsUser) || psc.runAsUser <= 0) out.push(`${id(o)}: pod securityContext.runAsUser must be a non-zero uid`);
  }
  const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
  for (const v of volumes.values()) {
    if (v.persistentVolumeClaim && !claims.has(v.persistentVolumeClaim.claimName)) {
      out.push(`${id(o)}: volume ${v.name} refers to PVC ${v.persistentVolumeClaim.claimName}, which is not in the set`);
    }
  }
  for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
    const where = `${id(o)} container ${c.name}`;
    const sc = c.securityContext ?? {};
    if (sc.allowPrivilegeEscalation !== false) out.push(`${where}: allowPrivilegeEscalation must be false`);
    if (sc.privileged === true) out.push(`${where}: must not be privileged`);
    if (sc.readOnlyRootFilesystem !== true) out.push(`${where}: readOnlyRootFilesystem must be true`);
    if (sc.runAsUser === 0 && !root) out.push(`${where}: runAsUser 0 must be decided at pod level`);
    const caps = sc.capabilities ?? {};
    if (!(caps.drop ?? []).includes('ALL')) out.push(`${where}: capabilities.drop must include ALL`);
    const allowed = root ? ROOT_CAPABILITIES : [];
    for (const cap of caps.add ?? []) {
      if (!allowed.includes(cap)) out.push(`${where}: capability ${cap} is not allowed${root ? '' : ' for a non-root pod'}`);
    }
    const r = c.resources ?? {};
    for (const [k, v] of [['requests.cpu', r.requests?.cpu], ['requests.memory', r.requests?.memory], ['limits.memory', r.limits?.memory]]) {
      if (v === undefined) out.push(`${where}: resources.${k} must be set`);
      else if (!QUANTITY.test(String(v))) out.push(`${where}: resources.${k} "${v}" is not a quantity`);
    }
    const image = c.image ?? '';
    const lastSegment = image.split('/').pop();
    if (!image.includes('@sha256:') && (!lastSegment.includes(':') || lastSegment.endsWith(':latest'))) {
      out.push(`${where}: image "${image}" must be pinned (a tag other than latest, or a digest)`);
    }
    const mounts = c.volumeMounts ?? [];
    for (const m of mounts) {
      if (!volumes.has(m.name)) out.push(`${where}: volumeMount ${m.name} has no volume`);
    }
    if (sc.readOnlyRootFilesystem === true) {
      const tmp = mounts.find((m) => m.mountPath === '/tmp');
      if (!tmp || !volumes.get(tmp.name)?.emptyDir) out.push(`${where}: read-only root needs an emptyDir at /tmp`);
    }
    for (const p of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
      const probe = c[p];
      const port = probe?.httpGet?.port ?? probe?.tcpSocket?.port;
      if (port === undefined) continue;
      const ok = (c.ports ?? []).some((cp) => cp.name === port || cp.containerPort === port);
      if (!ok) out.push(`${where}: ${p} port ${port} is not a container port`);
    }
    if (c.livenessProbe?.httpGet?.path === '/healthz') {
      out.push(`${where}: livenessProbe must not be /healthz (503 while the database is down: a restart does not fix that); probe the port`);
    }
    if ((c.ports ?? []).length > 0 && o.kind === 'Deployment') {
      for (const p of ['readinessProbe', 'livenessProbe']) {
        if (!c[p]) out.push(`${where}: ${p} must be set`);
      }
    }
    if (isSyncContainer(c)) lintSyncContainer(o, c, pod, job, where, out);
  }
  return sync;
}

function lintSyncContainer(o, c, pod, job, where, out) {
  const args = c.args ?? [];
  if (args.some((a) => a === '--db-dsn' || a.startsWith('--db-dsn='))) {
    out.push(`${where}: no --db-dsn argument: the DSN comes from env HA_SYNC_DB_DSN (a password in args is visible in the pod spec)`);
  }
  const env = c.env ?? [];
  const podName = env.some((e) => ['HOSTNAME', 'POD_NAME'].includes(e.name) && e.valueFrom?.fieldRef?.fieldPath === 'metadata.name');
  if (!podName) out.push(`${where}: HOSTNAME (or POD_NAME) must come from fieldRef metadata.name (Lease holder identity)`);
  const ttlText = argValue(args, '--lock-ttl');
  const ttl = ttlText === undefined ? 3600 : Number(ttlText);
  if (!Number.isInteger(ttl) || ttl <= 0) {
    out.push(`${where}: --lock-ttl must be a positive number of seconds (got ${ttlText})`);
    return;
  }
  // The holder renews every ttl/3 and stops writing at last renew + ttl - margin.
  if (ttl / 3 >= ttl - SKEW_MARGIN_SECONDS) {
    out.push(`${where}: --lock-ttl ${ttl} leaves no time between a renew (every ${ttl / 3} s) and the fencing deadline (ttl - ${SKEW_MARGIN_SECONDS} s)`);
  }
  const grace = pod.terminationGracePeriodSeconds ?? 30;
  if (grace < MIN_SYNC_GRACE_SECONDS) {
    out.push(`${where}: terminationGracePeriodSeconds ${grace} is too short to stop and release the Lease (>= ${MIN_SYNC_GRACE_SECONDS})`);
  }
  if (job && Number.isInteger(job.activeDeadlineSeconds)) {
    const bound = ttl - SKEW_MARGIN_SECONDS;
    if (job.activeDeadlineSeconds + grace > bound) {
      out.push(`${where}: activeDeadlineSeconds ${job.activeDeadlineSeconds} + grace ${grace} must stay within --lock-ttl ${ttl} - ${SKEW_MARGIN_SECONDS} s`);
    }
  }
}

function lintPvc(o, pvs, out) {
  const s = o.spec ?? {};
  const modes = s.accessModes ?? [];
  if (modes.length === 0) out.push(`${id(o)}: accessModes must be set`);
  for (const m of modes) {
    if (!['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'].includes(m)) out.push(`${id(o)}: bad access mode ${m}`);
  }
  if (typeof s.storageClassName !== 'string') out.push(`${id(o)}: storageClassName must be explicit ("" for static binding)`);
  const req = s.resources?.requests?.storage;
  if (req === undefined || !QUANTITY.test(String(req))) out.push(`${id(o)}: resources.requests.storage must be a quantity`);
  if (s.volumeMode !== undefined && !['Filesystem', 'Block'].includes(s.volumeMode)) out.push(`${id(o)}: bad volumeMode`);
  if (!s.volumeName) return;
  const pv = pvs.get(s.volumeName);
  if (!pv) {
    out.push(`${id(o)}: volumeName ${s.volumeName} is not a PersistentVolume in the set`);
    return;
  }
  const ref = pv.spec?.claimRef;
  if (ref && (ref.name !== o.metadata.name || ref.namespace !== o.metadata.namespace)) {
    out.push(`${id(o)}: PV ${pv.metadata.name} is reserved for ${ref.namespace}/${ref.name}`);
  }
  if (pv.spec?.storageClassName !== s.storageClassName) out.push(`${id(o)}: storageClassName differs from PV ${pv.metadata.name}`);
  for (const m of modes) {
    if (!(pv.spec?.accessModes ?? []).includes(m)) out.push(`${id(o)}: PV ${pv.metadata.name} does not offer ${m}`);
  }
  if (modes.includes('ReadWriteMany') && !pv.spec?.nfs) out.push(`${id(o)}: ReadWriteMany only on NFS volumes`);
  if (quantityBytes(pv.spec?.capacity?.storage) < quantityBytes(req)) out.push(`${id(o)}: requests more than PV ${pv.metadata.name} offers`);
}

function lintPv(o, claims, out) {
  const s = o.spec ?? {};
  const cap = s.capacity?.storage;
  if (cap === undefined || !QUANTITY.test(String(cap))) out.push(`${id(o)}: capacity.storage must be a quantity`);
  if ((s.accessModes ?? []).length === 0) out.push(`${id(o)}: accessModes must be set`);
  if (s.persistentVolumeReclaimPolicy !== 'Retain') out.push(`${id(o)}: persistentVolumeReclaimPolicy must be Retain (synced data must survive)`);
  if (typeof s.storageClassName !== 'string') out.push(`${id(o)}: storageClassName must be explicit`);
  const sources = VOLUME_SOURCES.filter((k) => s[k] !== undefined);
  if (sources.length !== 1) out.push(`${id(o)}: exactly one volume source (got ${sources.join(', ') || 'none'})`);
  if (s.local && !s.nodeAffinity) out.push(`${id(o)}: local volumes need nodeAffinity`);
  if (s.nfs && (!s.nfs.server || !s.nfs.path?.startsWith('/'))) out.push(`${id(o)}: nfs needs a server and an absolute path`);
  if (s.claimRef) {
    if (!s.claimRef.name || !s.claimRef.namespace) out.push(`${id(o)}: claimRef needs name and namespace`);
    else if (!claims.has(s.claimRef.name) || s.claimRef.namespace !== NAMESPACE) {
      out.push(`${id(o)}: claimRef ${s.claimRef.namespace}/${s.claimRef.name} is not a PVC in the set`);
    }
  }
}

function lintRbac(o, objects, out) {
  if (o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding') {
    out.push(`${id(o)}: cluster-wide RBAC is not allowed (a Role in ${NAMESPACE} is enough)`);
    return;
  }
  if (o.kind === 'Role') {
    const verbs = new Set();
    for (const r of o.rules ?? []) {
      if (JSON.stringify(r.apiGroups) !== '["coordination.k8s.io"]' || JSON.stringify(r.resources) !== '["leases"]') {
        out.push(`${id(o)}: rules may only name coordination.k8s.io leases (got ${r.apiGroups} ${r.resources})`);
      }
      if (r.resourceNames && (r.verbs ?? []).some((v) => ['create', 'list', 'watch', 'deletecollection'].includes(v))) {
        out.push(`${id(o)}: resourceNames cannot restrict ${r.verbs.join('/')}: such a rule grants nothing`);
      }
      for (const v of r.verbs ?? []) verbs.add(v);
    }
    const got = [...verbs].sort();
    if (JSON.stringify(got) !== JSON.stringify(LEASE_VERBS)) {
      out.push(`${id(o)}: verbs must be exactly ${LEASE_VERBS.join(', ')} (got ${got.join(', ')})`);
    }
    return;
  }
  // RoleBinding
  const ref = o.roleRef ?? {};
  if (ref.kind !== 'Role' || !objects.some((x) => x.kind === 'Role' && x.metadata.name === ref.name)) {
    out.push(`${id(o)}: roleRef must name a Role in the set`);
  }
  for (const s of o.subjects ?? []) {
    if (s.kind !== 'ServiceAccount' || s.namespace !== o.metadata.namespace) {
      out.push(`${id(o)}: subjects must be ServiceAccounts of ${o.metadata.namespace} (got ${s.kind} ${s.namespace}/${s.name})`);
    } else if (!objects.some((x) => x.kind === 'ServiceAccount' && x.metadata.name === s.name)) {
      out.push(`${id(o)}: ServiceAccount ${s.name} is not in the set`);
    }
  }
}

function lintLease(o, out) {
  const s = o.spec ?? {};
  if (!/^ha-sync-/.test(o.metadata.name) || o.metadata.name.length > 253) out.push(`${id(o)}: Lease names are ha-sync-<pair>`);
  if (!(s.leaseDurationSeconds > 0)) out.push(`${id(o)}: leaseDurationSeconds must be > 0`);
  if (s.leaseTransitions !== undefined && !(s.leaseTransitions >= 0)) out.push(`${id(o)}: leaseTransitions must be >= 0`);
  for (const f of ['acquireTime', 'renewTime']) {
    if (s[f] !== undefined && !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/.test(s[f])) out.push(`${id(o)}: ${f} must be a MicroTime with six fractional digits`);
  }
}

function lintService(o, objects, out) {
  const sel = o.spec?.selector ?? {};
  const matches = objects.filter((x) => {
    const [pod, meta] = podTemplate(x);
    return pod && Object.entries(sel).every(([k, v]) => meta?.labels?.[k] === v);
  });
  if (Object.keys(sel).length === 0 || matches.length === 0) {
    out.push(`${id(o)}: selector matches no pod template in the set`);
    return;
  }
  for (const p of o.spec?.ports ?? []) {
    const target = p.targetPort ?? p.port;
    const ok = matches.some((x) => podTemplate(x)[0].containers.some((c) =>
      (c.ports ?? []).some((cp) => cp.name === target || cp.containerPort === target)));
    if (!ok) out.push(`${id(o)}: targetPort ${target} is not a port of the selected pods`);
  }
}

function lintIngress(o, objects, out) {
  const hosts = (o.spec?.rules ?? []).map((r) => r.host);
  const tlsHosts = (o.spec?.tls ?? []).flatMap((t) => t.hosts ?? []);
  for (const h of hosts) {
    if (!tlsHosts.includes(h)) out.push(`${id(o)}: host ${h} has no TLS entry`);
  }
  if (!(o.spec?.tls ?? []).every((t) => t.secretName)) out.push(`${id(o)}: every TLS entry needs a secretName`);
  const ann = o.metadata?.annotations ?? {};
  if (!ann['cert-manager.io/cluster-issuer'] && !ann['cert-manager.io/issuer']) {
    out.push(`${id(o)}: cert-manager issuer annotation missing`);
  }
  for (const r of o.spec?.rules ?? []) {
    for (const p of r.http?.paths ?? []) {
      const b = p.backend?.service;
      const svc = objects.find((x) => x.kind === 'Service' && x.metadata.name === b?.name);
      if (!svc) {
        out.push(`${id(o)}: backend service ${b?.name} is not in the set`);
        continue;
      }
      const ok = (svc.spec?.ports ?? []).some((sp) => sp.port === b.port?.number || (b.port?.name && sp.name === b.port.name));
      if (!ok) out.push(`${id(o)}: backend port is not a port of service ${b.name}`);
    }
  }
}

export function lint(objects) {
  const out = [];
  const claims = new Set(objects.filter((o) => o.kind === 'PersistentVolumeClaim').map((o) => o.metadata.name));
  const pvs = new Map(objects.filter((o) => o.kind === 'PersistentVolume').map((o) => [o.metadata.name, o]));
  const seen = new Set();
  for (const o of objects) {
    const name = o.metadata?.name ?? '';
    const key = `${o.kind}/${o.metadata?.namespace}/${name}`;
    if (seen.has(key)) out.push(`${id(o)}: defined twice`);
    seen.add(key);
    const nameRe = ['Service', 'Namespace'].includes(o.kind) ? DNS_LABEL : DNS_SUBDOMAIN;
    if (!nameRe.test(name) || name.length > (nameRe === DNS_LABEL ? 63 : 253)) out.push(`${id(o)}: name is not a DNS-1123 ${nameRe === DNS_LABEL ? 'label' : 'subdomain'}`);
    if (CLUSTER_SCOPED.has(o.kind)) {
      if (o.metadata?.namespace !== undefined) out.push(`${id(o)}: cluster-scoped object with a namespace`);
    } else if (o.metadata?.namespace !== NAMESPACE) {
      out.push(`${id(o)}: namespace must be ${NAMESPACE} (got ${o.metadata?.namespace})`);
    }
    const labels = o.metadata?.labels ?? {};
    if (labels['app.kubernetes.io/name'] !== 'ha-sync' || labels['app.kubernetes.io/part-of'] !== 'ha-sync') {
      out.push(`${id(o)}: labels app.kubernetes.io/name and app.kubernetes.io/part-of must be ha-sync`);
    }
    if (o.kind === 'Secret') out.push(`${id(o)}: Secrets are created by hand, never rendered (k8s/secret.yaml)`);
    if (o.kind === 'CronJob') lintCronJob(o, out);
    const [pod, meta, job] = podTemplate(o);
    if (pod) {
      if (job) lintJobSpec(o, job, pod, out);
      lintPod(o, pod, meta, job, out, claims);
    }
    if (o.kind === 'PersistentVolumeClaim') lintPvc(o, pvs, out);
    if (o.kind === 'PersistentVolume') lintPv(o, claims, out);
    if (['Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind)) lintRbac(o, objects, out);
    if (o.kind === 'Lease') lintLease(o, out);
    if (o.kind === 'Service') lintService(o, objects, out);
    if (o.kind === 'Ingress') lintIngress(o, objects, out);
  }
  return out;
}

#!/usr/bin/env node
// Generates k8s/generated/: for every pair of the PAIRS table, the NFS
// PersistentVolume + PersistentVolumeClaim of each server and the two
// CronJobs (one per direction), plus the lease Role/RoleBinding whose
// resourceNames list the pairs' Leases. One template, twelve CronJobs.
// Also the optional component k8s/components/sharded/ (kustomization.yaml):
// for every pair with `shards` in PAIRS, its two CronJobs run an Indexed Job
// of `completions` pods, `parallelism` at a time, each syncing one share of
// the tree (`ha-sync --shards N`, docs/deploy.md "Sharding a huge pair").
//
//   node k8s/generate.mjs          rewrite k8s/generated/
//   node k8s/generate.mjs --check  exit 1 if k8s/generated/ is not what this
//                                  script produces (CI runs this through
//                                  tests/k8s/generate.test.mjs)
//
// Plain Node.js, no packages: the YAML writer below handles exactly the value
// shapes used here (maps, lists, strings, integers, booleans) and quotes every
// string that YAML 1.1 or 1.2 could read as something else. The test suite
// parses the output back with the `yaml` package and compares.
//
// Why the numbers are what they are (docs/deploy.md "Timing" explains more):
//  - --lock-ttl 3600 (the default, written out so the policy lint can check
//    the relation): the Lease is renewed every 1200 s.
//  - activeDeadlineSeconds 3300 + terminationGracePeriodSeconds 120 stays
//    below lock-ttl - 60 s skew margin, so a run ends (and releases) before its
//    lease could expire even if every renew failed: no renew is needed for
//    safety, only for the next run.
//  - startingDeadlineSeconds 300: a run skipped because the previous one of
//    the same CronJob was still running (Forbid) may start up to 5 min late;
//    later than that it waits for the next slot.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const NAMESPACE = 'infrastructure';
export const IMAGE = 'ha-sync';
// Created once in every export (docs/deploy.md); its absence means "not mounted".
export const MARKER = '.ha-sync-marker'; // replaced by the `images:` entry of k8s/kustomization.yaml

// The seed's pairs and capacities. Both servers export /data/<pair>.
export const PAIRS = [
  { name: 'media', capacity: '2Ti' },
  // Millions of files each: with the component components/sharded, one run
  // is split over `completions` pods (docs/deploy.md "Sharding a huge pair").
  { name: 'photos', capacity: '500Gi', shards: { completions: 4, parallelism: 4 } },
  { name: 'owncloud', capacity: '500Gi', shards: { completions: 4, parallelism: 2 } },
  { name: 'games', capacity: '500Gi' },
  // The logs export /data/infra/ha-sync-logs lies inside the infra share.
  { name: 'infra', capacity: '100Gi', exclude: ['ha-sync-logs'] },
  { name: 'ai', capacity: '500Gi' },
];

export const SERVERS = {
  dell: { address: '192.168.2.100', exportRoot: '/data' },
  hp: { address: '192.168.2.193', exportRoot: '/data' },
};

// dell-to-hp on the quarter hours, hp-to-dell seven minutes later.
export const DIRECTIONS = [
  { from: 'dell', to: 'hp', schedule: '*/15 * * * *' },
  { from: 'hp', to: 'dell', schedule: '7,22,37,52 * * * *' },
];

export const LOCK_TTL_SECONDS = 3600;
export const ACTIVE_DEADLINE_SECONDS = 3300;
export const TERMINATION_GRACE_SECONDS = 120;
export const STARTING_DEADLINE_SECONDS = 300;
export const LOG_DIR = '/var/log/ha-sync';
export const LOGS_CLAIM = 'pvc-ha-sync-logs';
export const DB_SECRET = 'ha-sync-db-secret';

export const pvName = (server, pair) => `pv-ha-sync-${server}-${pair}`;
export const pvcName = (server, pair) => `pvc-ha-sync-${server}-${pair}`;
export const mountPath = (server, pair) => `/mnt/${server}/${pair}`;
export const cronJobName = (pair, dir) => `ha-sync-${pair}-${dir.from}-to-${dir.to}`;
export const leaseName = (pair) => `ha-sync-${pair}`;
// The Lease of shard i of n (ha-sync's src/cli/lock_select.h).
export const shardLeaseName = (pair, i, n) => `ha-sync-${pair}-${i}-of-${n}`;

function storageLabels(pair, server) {
  return {
    'app.kubernetes.io/name': 'ha-sync',
    'app.kubernetes.io/component': 'storage',
    'ha-sync/pair': pair,
    'ha-sync/server': server,
  };
}

function persistentVolume(pair, server) {
  const { address, exportRoot } = SERVERS[server];
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name: pvName(server, pair.name), labels: storageLabels(pair.name, server) },
    spec: {
      capacity: { storage: pair.capacity },
      accessModes: ['ReadWriteMany'],
      persistentVolumeReclaimPolicy: 'Retain',
      storageClassName: '',
      volumeMode: 'Filesystem',
      // Reserved for our claim: no other claim in the cluster can bind it.
      claimRef: { namespace: NAMESPACE, name: pvcName(server, pair.name) },
      nfs: { server: address, path: `${exportRoot}/${pair.name}` },
    },
  };
}

function persistentVolumeClaim(pair, server) {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: pvcName(server, pair.name), labels: storageLabels(pair.name, server) },
    spec: {
      // Both CronJobs of the pair mount it, possibly on different nodes.
      accessModes: ['ReadWriteMany'],
      storageClassName: '',
      volumeName: pvName(server, pair.name),
      volumeMode: 'Filesystem',
      resources: { requests: { storage: pair.capacity } },
    },
  };
}

function cronJob(pair, dir) {
  const direction = `${dir.from}-to-${dir.to}`;
  const labels = {
    'app.kubernetes.io/name': 'ha-sync',
    'app.kubernetes.io/component': 'sync',
    'ha-sync/pair': pair.name,
    'ha-sync/direction': direction,
  };
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: cronJobName(pair.name, dir), labels },
    spec: {
      schedule: dir.schedule,
      timeZone: 'Etc/UTC',
      concurrencyPolicy: 'Forbid',
      startingDeadlineSeconds: STARTING_DEADLINE_SECONDS,
      suspend: false,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 5,
      jobTemplate: {
        metadata: { labels },
        spec: {
          // The schedule is the retry: a second pod would wait for the lease.
          backoffLimit: 0,
          activeDeadlineSeconds: ACTIVE_DEADLINE_SECONDS,
          ttlSecondsAfterFinished: 86400,
          // A node drain or preemption is not the run's fault: run it again.
          podFailurePolicy: {
            rules: [
              {
                action: 'Ignore',
                onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }],
              },
            ],
          },
          template: {
            metadata: { labels },
            spec: {
              serviceAccountName: 'ha-sync',
              automountServiceAccountToken: true,
              enableServiceLinks: false,
              restartPolicy: 'Never',
              terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS,
              // Root, so owner and group are preserved on NFS exports with
              // no_root_squash (docs/deploy.md "Root or not");
              // k8s/components/non-root switches this off.
              securityContext: {
                runAsNonRoot: false,
                runAsUser: 0,
                runAsGroup: 0,
                seccompProfile: { type: 'RuntimeDefault' },
              },
              containers: [
                {
                  name: 'ha-sync',
                  image: IMAGE,
                  imagePullPolicy: 'IfNotPresent',
                  // --dry-run stays first: k8s/patches/go-live.yaml removes
                  // args/0 after testing that it is --dry-run.
                  args: [
                    '--dry-run',
                    `--src=${mountPath(dir.from, pair.name)}`,
                    `--dest=${mountPath(dir.to, pair.name)}`,
                    `--pair=${pair.name}`,
                    `--direction=${direction}`,
                    `--log-dir=${LOG_DIR}`,
                    `--lock-ttl=${LOCK_TTL_SECONDS}`,
                    // Files younger than the NFS attribute cache may still be
                    // being written: they wait for the next run.
                    '--min-age=60',
                    // Refuse unless both exports are really mounted.
                    `--require-marker=${MARKER}`,
                    // Round trips overlap: 32 files in flight copied 20k photos
                    // through a 300 us latency mount 3.7x faster than 4
                    // (perf/README.md; also the default on NFS, pinned here so
                    // the manifest shows it); `ha-sync --bench` advises per
                    // server.
                    '--workers=32',
                    ...(pair.exclude ?? []).map((p) => `--exclude=${p}`),
                  ],
                  env: [
                    // Lease holder identity <pod-name>/<run-id>.
                    { name: 'HOSTNAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                  ],
                  // HA_SYNC_DB_DSN (the sync writer's DSN).
                  envFrom: [{ secretRef: { name: DB_SECRET } }],
                  resources: {
                    requests: { cpu: '250m', memory: '256Mi' },
                    limits: { memory: '2Gi' },
                  },
                  securityContext: {
                    allowPrivilegeEscalation: false,
                    privileged: false,
                    readOnlyRootFilesystem: true,
                    capabilities: {
                      drop: ['ALL'],
                      // chown, read/write whatever the owner, set times and
                      // modes (incl. setgid) on files we do not own.
                      add: ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID'],
                    },
                  },
                  volumeMounts: [
                    // The source side is mounted read-only: a run can never
                    // change the tree it copies from.
                    { name: dir.from, mountPath: mountPath(dir.from, pair.name), readOnly: true },
                    { name: dir.to, mountPath: mountPath(dir.to, pair.name) },
                    { name: 'logs', mountPath: LOG_DIR },
                    // Planned deletes are spooled to $TMPDIR or /tmp.
                    { name: 'tmp', mountPath: '/tmp' },
                  ],
                },
              ],
              volumes: [
                { name: 'dell', persistentVolumeClaim: { claimName: pvcName('dell', pair.name) } },
                { name: 'hp', persistentVolumeClaim: { claimName: pvcName('hp', pair.name) } },
                { name: 'logs', persistentVolumeClaim: { claimName: LOGS_CLAIM } },
                { name: 'tmp', emptyDir: { sizeLimit: '1Gi' } },
              ],
            },
          },
        },
      },
    },
  };
}

function leaseRbac() {
  const labels = { 'app.kubernetes.io/name': 'ha-sync', 'app.kubernetes.io/component': 'sync' };
  return [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'ha-sync-lease', labels },
      rules: [
        // create cannot be limited by name (the name is in the body).
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
        // Only the pairs' own Leases: other components of the namespace keep
        // their leader-election Leases to themselves.
        {
          apiGroups: ['coordination.k8s.io'],
          resources: ['leases'],
          resourceNames: PAIRS.map((p) => leaseName(p.name)),
          verbs: ['get', 'update', 'delete'],
        },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'ha-sync-lease', labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'ha-sync-lease' },
      subjects: [{ kind: 'ServiceAccount', name: 'ha-sync', namespace: NAMESPACE }],
    },
  ];
}

// The component that turns the CronJobs of the pairs with `shards` into
// Indexed Jobs: file name -> objects (a JSON patch is a list of ops). Each
// pod gets JOB_COMPLETION_INDEX from Kubernetes and the Job's uid (its run
// group: the shards' audit rows share it) from the controller-uid label; the
// Role gains the shards' Leases.
export function shardedComponentFiles() {
  const files = new Map();
  const patches = [];
  const shardLeases = [];
  for (const pair of PAIRS.filter((p) => p.shards)) {
    const { completions, parallelism } = pair.shards;
    for (let i = 0; i < completions; ++i) shardLeases.push(shardLeaseName(pair.name, i, completions));
    for (const dir of DIRECTIONS) {
      const name = cronJobName(pair.name, dir);
      files.set(`${name}.yaml`, [[
        { op: 'add', path: '/spec/jobTemplate/spec/completionMode', value: 'Indexed' },
        { op: 'add', path: '/spec/jobTemplate/spec/completions', value: completions },
        { op: 'add', path: '/spec/jobTemplate/spec/parallelism', value: parallelism },
        { op: 'add', path: '/spec/jobTemplate/spec/template/spec/containers/0/args/-', value: `--shards=${completions}` },
        {
          op: 'add',
          path: '/spec/jobTemplate/spec/template/spec/containers/0/env/-',
          value: {
            name: 'HA_SYNC_RUN_GROUP',
            valueFrom: { fieldRef: { fieldPath: "metadata.labels['batch.kubernetes.io/controller-uid']" } },
          },
        },
      ]]);
      patches.push({ path: `${name}.yaml`, target: { kind: 'CronJob', name } });
    }
  }
  files.set('lease-role.yaml', [shardLeases.map((name) => ({ op: 'add', path: '/rules/1/resourceNames/-', value: name }))]);
  patches.push({ path: 'lease-role.yaml', target: { kind: 'Role', name: 'ha-sync-lease' } });
  files.set('kustomization.yaml', [{ apiVersion: 'kustomize.config.k8s.io/v1alpha1', kind: 'Component', patches }]);
  return files;
}

export const COMPONENT_DIR = join(dirname(fileURLToPath(import.meta.url)), 'components', 'sharded');
const COMPONENT_HEADER =
  '# Optional: runs the pairs with `shards` in k8s/generate.mjs as Indexed Jobs,\n' +
  '# one share of the tree per pod (docs/deploy.md "Sharding a huge pair").\n' +
  '# Enable in k8s/kustomization.yaml:\n#   components:\n#     - components/sharded\n';

export function renderComponentFiles() {
  const rendered = new Map();
  for (const [name, [value]] of shardedComponentFiles()) {
    rendered.set(name, HEADER + (name === 'kustomization.yaml' ? COMPONENT_HEADER : '') + toYaml(value));
  }
  return rendered;
}

// Every object, grouped by the file it goes to.
export function buildFiles() {
  const files = new Map();
  for (const pair of PAIRS) {
    const objects = [];
    for (const server of Object.keys(SERVERS)) objects.push(persistentVolume(pair, server));
    for (const server of Object.keys(SERVERS)) objects.push(persistentVolumeClaim(pair, server));
    for (const dir of DIRECTIONS) objects.push(cronJob(pair, dir));
    files.set(`${pair.name}.yaml`, objects);
  }
  files.set('lease-rbac.yaml', leaseRbac());
  const kustomization = {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: [...files.keys()],
  };
  files.set('kustomization.yaml', [kustomization]);
  return files;
}

// ---- YAML writer -----------------------------------------------------------

const RESERVED = /^(?:~|null|true|false|yes|no|on|off|y|n)$/i;
// Strings written without quotes: start with a letter, '_' or '/', or are
// "--flag" style, and contain no character YAML gives meaning to. Anything
// else (including everything starting with a digit) is double-quoted.
const PLAIN = /^(?:[A-Za-z_/]|--?[A-Za-z])[A-Za-z0-9_./=-]*$/;

function scalar(value) {
  if (typeof value === 'string') {
    return PLAIN.test(value) && !RESERVED.test(value) ? value : JSON.stringify(value);
  }
  if (typeof value === 'number' && Number.isInteger(value)) return String(value);
  if (typeof value === 'boolean') return String(value);
  throw new Error(`YAML writer: unsupported value ${JSON.stringify(value)}`);
}

const isMap = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

function emit(value, indent, out) {
  const pad = ' '.repeat(indent);
  if (isMap(value)) {
    for (const [key, v] of Object.entries(value)) {
      const k = scalar(key);
      if (isMap(v) && Object.keys(v).length > 0) {
        out.push(`${pad}${k}:`);
        emit(v, indent + 2, out);
      } else if (Array.isArray(v) && v.length > 0) {
        out.push(`${pad}${k}:`);
        emit(v, indent + 2, out);
      } else {
        out.push(`${pad}${k}: ${inline(v)}`);
      }
    }
    return;
  }
  for (const item of value) {
    if (isMap(item) && Object.keys(item).length > 0) {
      const lines = [];
      emit(item, indent + 2, lines);
      out.push(`${pad}- ${lines[0].slice(indent + 2)}`, ...lines.slice(1));
    } else if (Array.isArray(item) && item.length > 0) {
      throw new Error('YAML writer: nested lists are not used');
    } else {
      out.push(`${pad}- ${inline(item)}`);
    }
  }
}

function inline(v) {
  if (isMap(v)) return '{}';
  if (Array.isArray(v)) return '[]';
  return scalar(v);
}

export function toYaml(value) {
  const out = [];
  emit(value, 0, out);
  return out.join('\n') + '\n';
}

export const HEADER =
  '# Generated by k8s/generate.mjs from its PAIRS table. Do not edit: change the\n' +
  '# script and run `node k8s/generate.mjs` (CI fails when this file is stale).\n';

export function renderFiles() {
  const rendered = new Map();
  for (const [name, objects] of buildFiles()) {
    // A kustomization file is one document; manifest files separate theirs.
    const body = name === 'kustomization.yaml'
      ? toYaml(objects[0])
      : objects.map((o) => '---\n' + toYaml(o)).join('');
    rendered.set(name, HEADER + body);
  }
  return rendered;
}

export const GENERATED_DIR = join(dirname(fileURLToPath(import.meta.url)), 'generated');

// Names of files that differ from (or are missing in, or are extra in) the
// committed directory.
export function staleFiles(dir = GENERATED_DIR, want = renderFiles()) {
  let have = [];
  try {
    have = readdirSync(dir);
  } catch {
    return [...want.keys()];
  }
  const stale = have.filter((f) => !want.has(f));
  for (const [name, text] of want) {
    let current = null;
    try {
      current = readFileSync(join(dir, name), 'utf8');
    } catch {
      // missing: stale
    }
    if (current !== text) stale.push(name);
  }
  return stale.sort();
}

function main(argv) {
  if (argv.includes('--check')) {
    const stale = [...staleFiles(), ...staleFiles(COMPONENT_DIR, renderComponentFiles()).map((f) => `components/sharded/${f}`)];
    if (stale.length > 0) {
      console.error(
        `k8s/generated is stale (${stale.join(', ')}): run \`node k8s/generate.mjs\` and commit the result`);
      return 1;
    }
    console.log('k8s/generated is up to date');
    return 0;
  }
  rmSync(GENERATED_DIR, { recursive: true, force: true });
  mkdirSync(GENERATED_DIR, { recursive: true });
  for (const [name, text] of renderFiles()) writeFileSync(join(GENERATED_DIR, name), text);
  rmSync(COMPONENT_DIR, { recursive: true, force: true });
  mkdirSync(COMPONENT_DIR, { recursive: true });
  for (const [name, text] of renderComponentFiles()) writeFileSync(join(COMPONENT_DIR, name), text);
  console.log(`wrote ${renderFiles().size} files to k8s/generated/`);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = main(process.argv.slice(2));
}

// The operator's switches documented in docs/deploy.md, rendered through a
// throw-away overlay on k8s/: going live per CronJob or per pair, enabling
// deletes on the primary direction, and the non-root component. Each result
// must still pass the schema and the policy lint.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { lint } from './lib/policy.mjs';
import { renderOverlay } from './lib/render.mjs';
import { typeCheck, validateModel } from './lib/schema.mjs';
import { K8S_DIR } from './lib/paths.mjs';

const patchFiles = {
  'go-live.yaml': readFileSync(join(K8S_DIR, 'patches', 'go-live.yaml'), 'utf8'),
  'delete-missing.yaml': readFileSync(join(K8S_DIR, 'patches', 'delete-missing.yaml'), 'utf8'),
  'ui-no-auth.yaml': readFileSync(join(K8S_DIR, 'patches', 'ui-no-auth.yaml'), 'utf8'),
};
const argsOf = (objects) => Object.fromEntries(objects.filter((o) => o.kind === 'CronJob')
  .map((o) => [o.metadata.name, o.spec.jobTemplate.spec.template.spec.containers[0].args]));

async function assertValid(objects) {
  assert.deepEqual(lint(objects), []);
  for (const o of objects) assert.deepEqual(await validateModel(o), []);
}

test('go-live on one CronJob removes --dry-run there and nowhere else', async () => {
  const objects = renderOverlay(`patches:
  - path: go-live.yaml
    target:
      kind: CronJob
      name: ha-sync-media-dell-to-hp
`, patchFiles);
  const args = argsOf(objects);
  assert.ok(!args['ha-sync-media-dell-to-hp'].includes('--dry-run'));
  assert.ok(args['ha-sync-media-dell-to-hp'].includes('--src=/mnt/dell/media'));
  for (const [name, a] of Object.entries(args)) {
    if (name !== 'ha-sync-media-dell-to-hp') assert.equal(a[0], '--dry-run', name);
  }
  await assertValid(objects);
});

test('go-live by label takes both directions of one pair live', () => {
  const args = argsOf(renderOverlay(`patches:
  - path: go-live.yaml
    target:
      kind: CronJob
      labelSelector: ha-sync/pair=photos
`, patchFiles));
  const live = Object.entries(args).filter(([, a]) => !a.includes('--dry-run')).map(([n]) => n).sort();
  assert.deepEqual(live, ['ha-sync-photos-dell-to-hp', 'ha-sync-photos-hp-to-dell']);
});

test('go-live listed twice fails to render instead of removing another argument', () => {
  assert.throws(() => renderOverlay(`patches:
  - path: go-live.yaml
    target: {kind: CronJob, name: ha-sync-ai-hp-to-dell}
  - path: go-live.yaml
    target: {kind: CronJob, name: ha-sync-ai-hp-to-dell}
`, patchFiles), /test failed/);
});

test('delete-missing on the primary direction adds --delete-missing and --max-delete', async () => {
  const objects = renderOverlay(`patches:
  - path: go-live.yaml
    target: {kind: CronJob, name: ha-sync-games-dell-to-hp}
  - path: delete-missing.yaml
    target: {kind: CronJob, name: ha-sync-games-dell-to-hp}
`, patchFiles);
  const args = argsOf(objects);
  assert.deepEqual(args['ha-sync-games-dell-to-hp'].slice(-2), ['--delete-missing', '--max-delete=5%']);
  assert.ok(!args['ha-sync-games-hp-to-dell'].includes('--delete-missing'));
  await assertValid(objects);
});

test('the non-root component runs every sync pod unprivileged and still passes', async () => {
  const objects = renderOverlay('components:\n  - @K8S@/components/non-root\n');
  for (const cj of objects.filter((o) => o.kind === 'CronJob')) {
    const pod = cj.spec.jobTemplate.spec.template.spec;
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.ok(pod.securityContext.runAsUser > 0);
    assert.deepEqual(pod.containers[0].securityContext.capabilities, { drop: ['ALL'] });
  }
  await assertValid(objects);
  assert.deepEqual(typeCheck(objects), []);
});

test('the sharded component runs the pairs with shards as Indexed Jobs, one Lease per shard', async () => {
  const objects = renderOverlay('components:\n  - @K8S@/components/sharded\n');
  const cronJobs = objects.filter((o) => o.kind === 'CronJob');
  const sharded = cronJobs.filter((o) => o.spec.jobTemplate.spec.completionMode === 'Indexed');
  assert.deepEqual(sharded.map((o) => o.metadata.name).sort(), [
    'ha-sync-owncloud-dell-to-hp', 'ha-sync-owncloud-hp-to-dell',
    'ha-sync-photos-dell-to-hp', 'ha-sync-photos-hp-to-dell']);
  for (const cj of sharded) {
    const job = cj.spec.jobTemplate.spec;
    const c = job.template.spec.containers[0];
    assert.ok(job.completions >= job.parallelism && job.parallelism >= 1, cj.metadata.name);
    assert.ok(c.args.includes(`--shards=${job.completions}`), cj.metadata.name);
    assert.equal(c.args[0], '--dry-run');  // go-live still removes args/0
    const group = c.env.find((e) => e.name === 'HA_SYNC_RUN_GROUP');
    assert.equal(group.valueFrom.fieldRef.fieldPath, "metadata.labels['batch.kubernetes.io/controller-uid']");
  }
  const role = objects.find((o) => o.kind === 'Role' && o.metadata.name === 'ha-sync-lease');
  const names = role.rules[1].resourceNames;
  for (const n of ['ha-sync-photos', 'ha-sync-photos-0-of-4', 'ha-sync-photos-3-of-4', 'ha-sync-owncloud-3-of-4']) {
    assert.ok(names.includes(n), n);
  }
  assert.equal(cronJobs.length - sharded.length, 8);
  await assertValid(objects);
  assert.deepEqual(typeCheck(objects), []);
});

test('ui-no-auth removes the dashboard\'s basic auth and nothing else', async () => {
  const uiEnv = (objects) => objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'ha-sync-ui')
    .spec.template.spec.containers[0].env;
  const before = uiEnv(renderOverlay(''));
  assert.ok(before.some((e) => e.name === 'HA_SYNC_UI_BASIC_AUTH'), 'auth is on by default');
  const objects = renderOverlay('patches:\n  - path: ui-no-auth.yaml\n', patchFiles);
  const after = uiEnv(objects);
  assert.deepEqual(after, before.filter((e) => e.name !== 'HA_SYNC_UI_BASIC_AUTH'));
  assert.ok(after.some((e) => e.name === 'HA_SYNC_DB_DSN'), 'the DSN stays');
  await assertValid(objects);
});

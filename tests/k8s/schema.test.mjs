// Every object `kubectl kustomize k8s/` renders is valid against the
// Kubernetes OpenAPI schema (kubernetes-models) and has no unknown fields
// (TypeScript excess-property check against kubernetes-types).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { render } from './lib/render.mjs';
import { installedVersions, typeCheck, validateModel } from './lib/schema.mjs';
import { TESTS_DIR } from './lib/paths.mjs';

test('the installed validators are the pinned versions', () => {
  const pinned = JSON.parse(readFileSync(join(TESTS_DIR, 'package.json'), 'utf8')).devDependencies;
  assert.deepEqual(installedVersions(), pinned, 'run `npm ci --prefix tests/k8s` again');
});

test('k8s/ renders with kustomize', () => {
  const objects = render();
  assert.ok(objects.length >= 40, `only ${objects.length} objects rendered`);
});

test('every rendered object passes its kubernetes-models validate()', async () => {
  const errors = [];
  for (const o of render()) errors.push(...await validateModel(o));
  assert.deepEqual(errors, []);
});

test('every rendered object type-checks against kubernetes-types (no unknown fields)', () => {
  assert.deepEqual(typeCheck(render()), []);
});

test('the schema check rejects a bad quantity, a bad enum and a missing required field', async () => {
  const objects = render();
  const cj = objects.find((o) => o.kind === 'CronJob');
  const pod = cj.spec.jobTemplate.spec.template.spec;
  pod.containers[0].resources.limits.memory = '2 GB';
  pod.containers[0].imagePullPolicy = 'Sometimes';
  delete pod.containers[0].name;
  const errors = await validateModel(cj);
  assert.equal(errors.length, 1);
  assert.match(errors[0], /limits\/memory/);
  assert.match(errors[0], /imagePullPolicy/);
  assert.match(errors[0], /name/);
});

test('the type check rejects misspelt fields at any depth', () => {
  const objects = render();
  const cj = objects.find((o) => o.kind === 'CronJob');
  cj.spec.jobTemplate.spec.template.spec.containers[0].volumeMount = [];
  const pv = objects.find((o) => o.kind === 'PersistentVolume');
  pv.spec.reclaimPolicy = 'Retain';
  const errors = typeCheck([cj, pv]);
  assert.equal(errors.length, 2, errors.join('\n'));
  assert.match(errors.find((e) => e.startsWith('CronJob')), /'"volumeMount"' does not exist in type 'Container'/);
  assert.match(errors.find((e) => e.startsWith('PersistentVolume')), /reclaimPolicy/);
});

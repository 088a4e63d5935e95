#!/usr/bin/env node
// Runs the deployment checks (tests/k8s/*.test.mjs) with node's test runner,
// after checking what they need, so a missing step fails with one clear line
// instead of a module-resolution stack trace:
//   - the pinned npm packages: `npm ci --prefix tests/k8s` (once per checkout)
//   - kubectl with built-in kustomize (already on every machine; never install
//     Debian's kubernetes-client, which collides with it)
//   - apt-cache (Debian), for the Containerfile's package names
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { TESTS_DIR } from './lib/paths.mjs';

function fail(message) {
  console.error(`k8s checks: ${message}`);
  process.exit(1);
}

for (const pkg of ['kubernetes-models', 'kubernetes-types', 'typescript', 'yaml']) {
  if (!existsSync(join(TESTS_DIR, 'node_modules', pkg, 'package.json'))) {
    fail(`npm package ${pkg} is not installed: run \`npm ci --prefix tests/k8s\` from the repository root first`);
  }
}
const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
if (kubectl.error || kubectl.status !== 0 || !/Kustomize Version/.test(kubectl.stdout)) {
  fail('kubectl with built-in kustomize is required on PATH (kubectl version --client must show a Kustomize Version)');
}
if (spawnSync('apt-cache', ['--version']).error) fail('apt-cache is required (Debian)');

const files = readdirSync(TESTS_DIR).filter((f) => f.endsWith('.test.mjs')).sort().map((f) => join(TESTS_DIR, f));
const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);

// The Containerfile cannot be built here (no container engine), so it is
// checked offline: hadolint-style rules, the build and runtime package names
// exist in apt, the builder installs what scripts/install-deps installs.
// (tests/k8s/runtime_libs.mjs checks the runtime packages against the
// libraries the built binaries link.)
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as cf from './lib/containerfile.mjs';
import { REPO } from './lib/paths.mjs';

const text = readFileSync(join(REPO, 'Containerfile'), 'utf8');
const [build, runtime] = cf.stages(cf.parse(text));

test('the Containerfile passes the lint', () => {
  assert.deepEqual(cf.lint(text), []);
});

test('every package it installs exists in apt', () => {
  const pkgs = [...cf.aptPackages(build), ...cf.aptPackages(runtime)];
  assert.ok(pkgs.length >= 17, pkgs.join(' '));
  assert.deepEqual(cf.unknownToApt(pkgs), [], 'unknown to apt-cache (run `apt-get update` first if the lists are empty)');
});

test('the runtime stage installs only runtime libraries', () => {
  assert.deepEqual(cf.aptPackages(runtime).sort(), [
    'libboost-json1.81.0', 'libboost-program-options1.81.0', 'libmariadb3', 'libsqlite3-0', 'liburing2', 'libssl3',
  ].sort());
});

test('the builder installs the packages scripts/install-deps installs', (t) => {
  const script = join(REPO, 'scripts', 'install-deps');
  if (!existsSync(script)) {
    t.skip('scripts/install-deps is not in this tree yet');
    return;
  }
  const words = new Set(readFileSync(script, 'utf8').split(/[\s"'\\()]+/));
  assert.deepEqual(cf.aptPackages(build).filter((p) => !words.has(p)), [], 'named in the Containerfile but not in scripts/install-deps');
});

test('.dockerignore keeps build trees, node_modules and .git out of the context', () => {
  const ignore = readFileSync(join(REPO, '.dockerignore'), 'utf8').split('\n');
  for (const p of ['.git', 'build*/', '**/node_modules']) assert.ok(ignore.includes(p), p);
});

// The lint itself catches what it is for.
const MUTATIONS = [
  ['latest base', (t) => t.replace('FROM debian:bookworm-slim', 'FROM debian:latest'), /must name a release, not latest/],
  ['recommends', (t) => t.replace('install -y --no-install-recommends \\\n      liburing2', 'install -y \\\n      liburing2'), /--no-install-recommends/],
  ['lists kept', (t) => t.replace(/ && rm -rf \/var\/lib\/apt\/lists\/\*\nWORKDIR/, '\nWORKDIR'), /remove \/var\/lib\/apt\/lists/],
  ['install without update', (t) => t.replace('RUN apt-get update \\\n && apt-get install -y --no-install-recommends \\\n      liburing2', 'RUN apt-get install -y --no-install-recommends \\\n      liburing2'), /apt-get update must precede install/],
  ['a download', (t) => t.replace('WORKDIR /src', 'RUN curl -fsSLo /x https://example.invalid/x\nWORKDIR /src'), /no downloads/],
  ['ADD', (t) => t.replace('COPY . .', 'ADD . .'), /use COPY, not ADD/],
  ['a -dev package at runtime', (t) => t.replace('      libsqlite3-0 \\', '      libsqlite3-0 \\\n      libsqlite3-dev \\'), /runtime stage installs the build package libsqlite3-dev/],
  ['a build package missing', (t) => t.replace('      libboost-json1.81-dev \\\n', ''), /does not install libboost-json1.81-dev/],
  ['tests built', (t) => t.replace(' -Dtests=false', ''), /-Dtests=false/],
  ['debug build', (t) => t.replace('--buildtype=release', '--buildtype=debug'), /release build/],
  ['UI binary not copied', (t) => t.replace(' /out/usr/local/bin/ha-sync-ui', ''), /binary \/usr\/local\/bin\/ha-sync-ui/],
  ['shell-form entrypoint', (t) => t.replace('ENTRYPOINT ["/usr/local/bin/ha-sync"]', 'ENTRYPOINT /usr/local/bin/ha-sync'), /ENTRYPOINT \["\/usr\/local\/bin\/ha-sync"\]/],
  ['root user', (t) => t.replace('USER 10001:10001', 'USER root'), /numeric non-root USER/],
  ['a pipe', (t) => t.replace('&& ninja -C /build', '&& ninja -C /build | tee /log'), /a pipe hides/],
];
for (const [what, mutate, pattern] of MUTATIONS) {
  test(`the Containerfile lint catches: ${what}`, () => {
    const changed = mutate(text);
    assert.notEqual(changed, text, 'the mutation applies');
    const found = cf.lint(changed);
    assert.ok(found.some((m) => pattern.test(m)), `expected ${pattern}, got:\n${found.join('\n') || '(nothing)'}`);
  });
}

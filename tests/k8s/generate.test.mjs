// k8s/generated/ is exactly what k8s/generate.mjs produces (no hand edits,
// no stale output), and its dependency-free YAML writer round-trips.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { K8S_DIR } from './lib/paths.mjs';

const gen = await import(join(K8S_DIR, 'generate.mjs'));

test('regenerating k8s/generated changes nothing', () => {
  assert.deepEqual(gen.staleFiles(), [], 'run `node k8s/generate.mjs` and commit the result');
});

test('`node k8s/generate.mjs --check` agrees', () => {
  const r = spawnSync(process.execPath, [join(K8S_DIR, 'generate.mjs'), '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

test('--check notices an edited, a missing and an extra file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ha-sync-gen-'));
  try {
    cpSync(gen.GENERATED_DIR, dir, { recursive: true });
    assert.deepEqual(gen.staleFiles(dir), []);
    writeFileSync(join(dir, 'media.yaml'), 'edited by hand\n');
    rmSync(join(dir, 'ai.yaml'));
    writeFileSync(join(dir, 'old-pair.yaml'), '');
    assert.deepEqual(gen.staleFiles(dir), ['ai.yaml', 'media.yaml', 'old-pair.yaml']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the committed files parse back (YAML 1.2 and 1.1) into the generator objects', () => {
  const rendered = gen.renderFiles();
  for (const [name, objects] of gen.buildFiles()) {
    for (const version of ['1.2', '1.1']) {
      const docs = parseAllDocuments(rendered.get(name), { version }).map((d) => d.toJS());
      assert.deepEqual(docs, objects, `${name} as YAML ${version}`);
    }
  }
});

test('the YAML writer quotes every string YAML could read as something else', () => {
  const tricky = {
    yes: 'yes', no: 'No', on: 'on', off: 'OFF', y: 'y', n: 'N', t: 'True', nul: 'null', tilde: '~',
    empty: '', int: '3600', float: '1.5', exp: '1e3', oct: '0o17', hex: '0x1F', sexagesimal: '1:20',
    version: '0.1.0', quantity: '2Ti', cron: '*/15 * * * *', list: '7,22', colon: 'a: b',
    hash: 'a #b', star: '*alias', amp: '&anchor', bang: '!tag', dash: '- x', q: '"q"', sq: "'", nl: 'a\nb',
    flag: '--dry-run', kv: '--src=/mnt/dell/media', path: '/data/media', dotted: 'app.kubernetes.io/name',
    'key with: colon': 1, 'x': true, 'nested': { list: ['a', 'yes', 1, false, { k: '' }], empty: [], obj: {} },
  };
  const text = gen.toYaml(tricky);
  assert.deepEqual(parse(text, { version: '1.2' }), tricky);
  assert.deepEqual(parse(text, { version: '1.1' }), tricky);
});

test('the writer refuses values it does not handle', () => {
  assert.throws(() => gen.toYaml({ a: 1.5 }), /unsupported value/);
  assert.throws(() => gen.toYaml({ a: null }), /unsupported value/);
  assert.throws(() => gen.toYaml({ a: [[1]] }), /nested lists/);
});

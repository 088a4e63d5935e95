// Renders a kustomize directory with the installed kubectl (offline: no
// kubeconfig) and parses the result into plain objects.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { K8S_DIR } from './paths.mjs';

export function kustomize(dir) {
  try {
    return execFileSync('kubectl', ['kustomize', dir], {
      encoding: 'utf8',
      env: { ...process.env, KUBECONFIG: join(tmpdir(), 'ha-sync-no-kubeconfig') },
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 << 20,
    });
  } catch (e) {
    const err = new Error(`kubectl kustomize ${dir} failed:\n${e.stderr || e.message}`);
    err.stderr = String(e.stderr || '');
    throw err;
  }
}

export function parseManifests(text) {
  const objects = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`YAML error: ${doc.errors[0].message}`);
    const value = doc.toJS();
    if (value !== null && value !== undefined) objects.push(value);
  }
  return objects;
}

const cache = new Map();

// The objects `kubectl apply -k <dir>` would send (default: k8s/).
export function render(dir = K8S_DIR) {
  if (!cache.has(dir)) cache.set(dir, parseManifests(kustomize(dir)));
  return structuredClone(cache.get(dir));
}

// Renders k8s/ through a throw-away overlay whose kustomization.yaml body is
// `body` (YAML text, without `resources:`). The overlay lives in a temp dir
// and reaches k8s/ by a relative path (kustomize refuses absolute roots).
export function renderOverlay(body, files = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'ha-sync-overlay-'));
  try {
    const base = relative(dir, K8S_DIR);
    writeFileSync(join(dir, 'kustomization.yaml'),
      `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ${base}\n` +
      body.replaceAll('@K8S@', base));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return parseManifests(kustomize(dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const idOf = (o) =>
  `${o.kind} ${o.metadata?.namespace ? o.metadata.namespace + '/' : ''}${o.metadata?.name}`;

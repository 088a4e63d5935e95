#!/usr/bin/env node
// Checks that the runtime stage of the Containerfile installs every shared
// library the given binaries link: ldd -> the Debian package owning each
// library (dpkg -S) -> must be one of the runtime packages or one of their
// dependencies (apt-cache depends --recurse). Catches a new library linked by
// a later change that the image would lack (the image cannot be built here).
//
//   node tests/k8s/runtime_libs.mjs BINARY...
// Needs no npm packages. Sanitizer runtimes (libasan, libubsan: present in
// the debug test build only) are ignored.
import { execFileSync } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { aptPackages, parse, stages } from './lib/containerfile.mjs';
import { REPO } from './lib/paths.mjs';

const SANITIZER = /^lib(asan|ubsan|lsan|tsan)\d*(:|$)/;

function run(cmd, args) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function linkedLibraries(binary) {
  const libs = [];
  for (const line of run('ldd', [binary]).split('\n')) {
    const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.push(m[1]);
    if (/not found/.test(line)) throw new Error(`${binary}: ${line.trim()}`);
  }
  return libs;
}

// dpkg's database lists /usr/lib paths on merged-/usr systems and /lib paths
// on others: try the path as given, its real path and both spellings.
function owningPackage(lib) {
  const candidates = new Set([lib, realpathSync(lib)]);
  for (const p of [...candidates]) {
    if (p.startsWith('/usr/lib/')) candidates.add(p.slice(4));
    else if (p.startsWith('/lib')) candidates.add('/usr' + p);
  }
  for (const p of candidates) {
    try {
      return run('dpkg', ['-S', p]).split(':')[0].trim();
    } catch {
      // try the next spelling
    }
  }
  return null;
}

function dependencyClosure(packages) {
  const text = run('apt-cache', ['depends', '--recurse', '--no-recommends', '--no-suggests',
    '--no-conflicts', '--no-breaks', '--no-replaces', '--no-enhances', ...packages]);
  const closure = new Set();
  for (const line of text.split('\n')) {
    const m = /^(?:\s+\|?(?:Pre)?Depends:\s+)?<?([a-z0-9][a-z0-9+.-]*)(?::[a-z0-9]+)?>?$/.exec(line);
    if (m) closure.add(m[1]);
  }
  return closure;
}

function main(binaries) {
  if (binaries.length === 0) {
    console.error('usage: runtime_libs.mjs BINARY...');
    return 64;
  }
  const containerfile = readFileSync(join(REPO, 'Containerfile'), 'utf8');
  const runtime = aptPackages(stages(parse(containerfile)).at(-1));
  const closure = dependencyClosure(runtime);
  let passed = 0;
  let failures = 0;
  for (const binary of binaries) {
    for (const lib of linkedLibraries(binary)) {
      const pkg = owningPackage(lib);
      if (pkg === null) {
        console.log(`not ok: ${binary}: ${lib} belongs to no Debian package`);
        failures++;
        continue;
      }
      if (SANITIZER.test(pkg)) continue;
      const base = pkg.split(':')[0];
      if (closure.has(base)) {
        console.log(`ok: ${lib} (${base})`);
        passed++;
      } else {
        console.log(`not ok: ${binary} links ${lib} from ${base}, which the Containerfile's runtime stage does not install`);
        failures++;
      }
    }
  }
  console.log(`${passed} passed, ${failures} failed`);
  return failures === 0 && passed > 0 ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));

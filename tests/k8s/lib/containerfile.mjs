// Offline checks of the Containerfile (no container engine runs here): a
// small parser plus the hadolint-style rules this project cares about, and
// the package lists the tests compare with apt and with the binaries.
import { execFileSync } from 'node:child_process';

// The build packages (scripts/install-deps installs the same).
export const BUILD_PACKAGES = [
  'g++', 'meson', 'ninja-build', 'pkg-config', 'liburing-dev', 'libboost1.81-all-dev',
  'libboost-json1.81-dev', 'libssl-dev', 'libmariadb-dev', 'libsqlite3-dev', 'doctest-dev',
];
export const BINARIES = ['/usr/local/bin/ha-sync', '/usr/local/bin/ha-sync-ui'];

// [{instruction, args, line}] with continuation lines joined and comments
// dropped.
export function parse(text) {
  const out = [];
  let current = null;
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trimEnd();
    if (current === null && (line.trim() === '' || line.trim().startsWith('#'))) continue;
    if (current !== null && line.trim().startsWith('#')) continue; // comment inside a continuation
    const continued = line.endsWith('\\');
    const body = continued ? line.slice(0, -1) : line;
    if (current === null) {
      const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(body);
      current = { instruction: m[1].toUpperCase(), args: m[2], line: i + 1 };
    } else {
      current.args += ' ' + body.trim();
    }
    if (!continued) {
      current.args = current.args.replace(/\s+/g, ' ').trim();
      out.push(current);
      current = null;
    }
  }
  if (current !== null) out.push(current);
  return out;
}

// Stages: [{from, name, instructions}].
export function stages(instructions) {
  const out = [];
  for (const ins of instructions) {
    if (ins.instruction === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      out.push({ from: m?.[1], name: m?.[2], line: ins.line, instructions: [] });
    } else if (out.length > 0) {
      out.at(-1).instructions.push(ins);
    }
  }
  return out;
}

// Package names of every `apt-get install` in a stage.
export function aptPackages(stage) {
  const pkgs = [];
  for (const ins of stage.instructions) {
    if (ins.instruction !== 'RUN') continue;
    for (const cmd of ins.args.split(/&&|;/)) {
      const words = cmd.trim().split(/\s+/);
      if (words[0] !== 'apt-get' || !words.includes('install')) continue;
      pkgs.push(...words.slice(words.indexOf('install') + 1).filter((w) => !w.startsWith('-')));
    }
  }
  return pkgs;
}

// Rule violations, one message each.
export function lint(text) {
  const out = [];
  const all = parse(text);
  const st = stages(all);
  if (st.length !== 2) out.push(`expected two stages (build, runtime), got ${st.length}`);
  if (st.length === 0) return out;
  const [build, runtime] = [st[0], st.at(-1)];
  if (build.from !== 'debian:bookworm' || build.name !== 'build') out.push(`first stage must be "FROM debian:bookworm AS build" (got ${build.from} AS ${build.name})`);
  if (runtime.from !== 'debian:bookworm-slim') out.push(`last stage must be FROM debian:bookworm-slim (got ${runtime.from})`);
  for (const s of st) {
    if (!s.from?.includes(':') || s.from.endsWith(':latest')) out.push(`line ${s.line}: base image ${s.from} must name a release, not latest`);
  }
  for (const ins of all) {
    const where = `line ${ins.line} (${ins.instruction})`;
    if (ins.instruction === 'ADD') out.push(`${where}: use COPY, not ADD`);
    if (ins.instruction === 'MAINTAINER') out.push(`${where}: MAINTAINER is deprecated`);
    if (ins.instruction !== 'RUN') continue;
    if (/\b(curl|wget)\b/.test(ins.args)) out.push(`${where}: no downloads at build time (only Debian packages)`);
    if (/\|/.test(ins.args.replace(/\|\|/g, ''))) out.push(`${where}: a pipe hides the failure of its left side (DL4006)`);
    if (/\bapt\s/.test(ins.args)) out.push(`${where}: use apt-get, not apt (DL3027)`);
    if (/\bapt-get\b[^&;]*\bupgrade\b/.test(ins.args)) out.push(`${where}: no apt-get upgrade in an image build (DL3005)`);
    if (/\bapt-get\b[^&;]*\binstall\b/.test(ins.args)) {
      const cmd = ins.args.split(/&&|;/).find((c) => /apt-get\b.*\binstall\b/.test(c));
      if (!/(^|\s)-y(\s|$)|--yes|--assume-yes/.test(cmd)) out.push(`${where}: apt-get install needs -y (DL3014)`);
      if (!cmd.includes('--no-install-recommends')) out.push(`${where}: apt-get install needs --no-install-recommends (DL3015)`);
      if (!/apt-get update/.test(ins.args.split('apt-get install')[0])) out.push(`${where}: apt-get update must precede install in the same RUN (DL3009/stale lists)`);
      if (!/rm -rf \/var\/lib\/apt\/lists\/\*/.test(ins.args)) out.push(`${where}: remove /var/lib/apt/lists/* in the same RUN (DL3009)`);
    }
    if (/\bcd\s/.test(ins.args)) out.push(`${where}: use WORKDIR or -C instead of cd (DL3003)`);
  }
  const buildPkgs = aptPackages(build);
  for (const p of BUILD_PACKAGES) {
    if (!buildPkgs.includes(p)) out.push(`build stage does not install ${p}`);
  }
  const runtimePkgs = aptPackages(runtime);
  for (const p of runtimePkgs) {
    if (/-dev$|^g\+\+|^meson$|^ninja-build$|^pkg-config$/.test(p)) out.push(`runtime stage installs the build package ${p}`);
  }
  const buildRun = build.instructions.filter((i) => i.instruction === 'RUN').map((i) => i.args).join(' && ');
  if (!/meson setup\b.*--buildtype=release/.test(buildRun)) out.push('build stage must configure a release build (meson setup --buildtype=release)');
  if (!/-Dtests=false/.test(buildRun)) out.push('build stage must not build the tests (-Dtests=false)');
  if (!/meson install\b/.test(buildRun)) out.push('build stage must install the binaries (meson install)');
  const copies = runtime.instructions.filter((i) => i.instruction === 'COPY' && i.args.startsWith('--from=build'));
  const copied = copies.flatMap((c) => {
    const words = c.args.split(' ').slice(1);
    const dest = words.pop();
    return words.map((w) => (dest.endsWith('/') ? dest + w.split('/').pop() : dest));
  });
  for (const b of BINARIES) {
    if (!copied.includes(b)) out.push(`runtime stage must COPY --from=build the binary ${b}`);
  }
  const ep = runtime.instructions.filter((i) => i.instruction === 'ENTRYPOINT');
  if (ep.length !== 1 || ep[0].args !== '["/usr/local/bin/ha-sync"]') out.push('runtime stage needs exactly ENTRYPOINT ["/usr/local/bin/ha-sync"] (exec form)');
  for (const i of runtime.instructions.filter((x) => x.instruction === 'CMD')) {
    if (!i.args.startsWith('[')) out.push(`line ${i.line}: CMD must use the exec form (DL3025)`);
  }
  const user = runtime.instructions.filter((i) => i.instruction === 'USER').at(-1);
  if (!user || !/^[1-9]\d*(:\d+)?$/.test(user.args)) out.push('runtime stage must end as a numeric non-root USER (runAsNonRoot needs a numeric uid)');
  return out;
}

// Package names apt does not know or cannot install ([] when all can be
// installed). One `apt-cache policy` call: a known package prints a
// "name:" block with a Candidate version.
export function unknownToApt(packages) {
  let text;
  try {
    text = execFileSync('apt-cache', ['policy', ...packages], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    return packages.map((p) => `${p} (apt-cache failed: ${String(e.stderr || e.message).trim()})`);
  }
  const candidate = new Map();
  let current = null;
  for (const line of text.split('\n')) {
    const header = /^(\S+):$/.exec(line);
    if (header) current = header[1];
    const m = /^\s+Candidate:\s+(\S+)/.exec(line);
    if (m && current) candidate.set(current, m[1]);
  }
  return packages.filter((p) => !candidate.has(p) || candidate.get(p) === '(none)');
}

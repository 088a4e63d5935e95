// Offline schema checks of rendered objects:
//  - validateModel: the kubernetes-models class of the object's kind, whose
//    validate() is generated from the Kubernetes OpenAPI (types, enums,
//    quantity formats, required fields). It does not reject unknown fields.
//  - typeCheck: every object as a TypeScript literal typed with
//    kubernetes-types, so an unknown or misspelt field is an excess-property
//    error.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import ts from 'typescript';
import { idOf } from './render.mjs';
import { TESTS_DIR } from './paths.mjs';

// apiVersion "group/version" -> kubernetes-models module directory.
const modelDir = (apiVersion) => apiVersion; // "v1", "batch/v1", "rbac.authorization.k8s.io/v1"

export async function validateModel(object) {
  const { apiVersion, kind } = object;
  let mod;
  try {
    mod = await import(`kubernetes-models/${modelDir(apiVersion)}/${kind}`);
  } catch {
    return [`${idOf(object)}: no kubernetes-models class for ${apiVersion} ${kind}`];
  }
  try {
    new mod[kind](object).validate();
    return [];
  } catch (e) {
    return [`${idOf(object)}: ${e.message}`];
  }
}

// apiVersion -> [kubernetes-types module, namespace alias].
function typesModule(apiVersion) {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['core', apiVersion];
  const short = group.split('.')[0]; // rbac.authorization.k8s.io -> rbac
  return [`kubernetes-types/${short}/${version}`, `${short}_${version}`];
}

// Returns one message per TypeScript diagnostic, naming the object.
export function typeCheck(objects) {
  const imports = new Map();
  const lines = [];
  const owners = []; // [firstLine, lastLine, id]
  for (const [i, o] of objects.entries()) {
    const [module, alias] = typesModule(o.apiVersion);
    imports.set(alias, module);
    const text = `export const o${i}: ${alias}.${o.kind} = ${JSON.stringify(o, null, 2)};`.split('\n');
    owners.push([lines.length, lines.length + text.length - 1, idOf(o)]);
    lines.push(...text);
  }
  const header = [...imports].map(([alias, m]) => `import type * as ${alias} from '${m}';`);
  const source = [...header, ...lines].join('\n');

  // A virtual file inside tests/k8s so that module resolution finds
  // tests/k8s/node_modules/kubernetes-types.
  const fileName = join(TESTS_DIR, '__rendered_manifests__.ts');
  const options = {
    noEmit: true,
    strict: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2022.d.ts'],
    types: [],
    skipLibCheck: true,
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) =>
    name === fileName ? ts.createSourceFile(name, source, lang) : getSourceFile(name, lang, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === fileName || fileExists(name);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => (name === fileName ? source : readFile(name));

  const program = ts.createProgram([fileName], options, host);
  const diagnostics = ts.getPreEmitDiagnostics(program);
  return diagnostics.map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (!d.file || d.file.fileName !== fileName) return `TypeScript: ${text}`;
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    const bodyLine = line - header.length;
    const owner = owners.find(([a, b]) => bodyLine >= a && bodyLine <= b);
    return `${owner ? owner[2] : `line ${line + 1}`}: ${text}`;
  });
}

// Guards against a silently empty check: the installed packages are the
// pinned ones.
export function installedVersions() {
  const require = createRequire(join(TESTS_DIR, 'package.json'));
  return Object.fromEntries(['kubernetes-models', 'kubernetes-types', 'typescript', 'yaml'].map(
    (p) => [p, require(`${p}/package.json`).version]));
}

// Where things are, relative to this file (tests/k8s/lib/).
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const TESTS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO = resolve(TESTS_DIR, '..', '..');
export const K8S_DIR = join(REPO, 'k8s');

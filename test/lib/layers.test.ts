import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * lib/ is one folder per capability, each importing only from the folders before it here (the
 * "Where things are" of docs/design.md lists them in this order): a change to the HTTP route or the upload
 * path never reaches the check, and Deepvue's side knows nothing of either.
 */
const LAYERS = ['platform', 'deepvue', 'rate-limit', 'face', 'evidence', 'check', 'prescreen', 'container', 'http', 'sessions', 'uploads', 'retention'];

const LIB = fileURLToPath(new URL('../../lib/', import.meta.url));
const sources = readdirSync(LIB, { recursive: true, encoding: 'utf8' }).filter((path) => path.endsWith('.ts')).sort();
const folderOf = (path: string) => path.split('/')[0] ?? '';

/** The lib folders a source imports from, type-only and lazy imports included. */
function importedFolders(path: string): string[] {
  const text = readFileSync(`${LIB}${path}`, 'utf8');
  return [...text.matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+)'/g)].flatMap(([, specifier]) => {
    const target = new URL(specifier ?? '', `file://${LIB}${path}`).pathname;
    return target.startsWith(LIB) ? [folderOf(target.slice(LIB.length))] : [];
  });
}

describe('lib/', () => {
  it('holds only the capability folders, nothing loose', () => {
    expect([...new Set(sources.map(folderOf))].sort()).toEqual([...LAYERS].sort());
    expect(sources.filter((path) => !path.includes('/'))).toEqual([]);
  });

  it.each(sources)('%s imports only from its own folder and the ones before it', (path) => {
    const own = LAYERS.indexOf(folderOf(path));
    const upward = importedFolders(path).filter((folder) => LAYERS.indexOf(folder) > own);
    expect(upward).toEqual([]);
  });
});

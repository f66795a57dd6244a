import { readFileSync, writeFileSync } from 'node:fs';

/**
 * bench/results.md is written by two commands: `npm run bench` writes the file, `npm run load`
 * its section between these markers. Each keeps what the other wrote last.
 */
const RESULTS = new URL('results.md', import.meta.url);
const START = '<!-- npm run load: start -->';
const END = '<!-- npm run load: end -->';

const current = (): string => {
  try {
    return readFileSync(RESULTS, 'utf8');
  } catch {
    return '';
  }
};

/** What `npm run load` wrote last, markers included; empty when it never ran. */
export function loadSection(): string {
  const text = current();
  const start = text.indexOf(START);
  const end = text.indexOf(END);
  return start >= 0 && end > start ? text.slice(start, end + END.length) : '';
}

/** Writes `npm run bench`'s part of the file, keeping the load section. */
export function writeBenchResults(markdown: string): void {
  const section = loadSection();
  writeFileSync(RESULTS, section === '' ? markdown : `${markdown.trimEnd()}\n\n${section}\n`);
}

/** Replaces (or adds) the load section, keeping the rest of the file. */
export function writeLoadResults(markdown: string): void {
  const text = current();
  const section = `${START}\n${markdown.trim()}\n${END}`;
  const old = loadSection();
  writeFileSync(RESULTS, old === '' ? `${text.trimEnd()}\n\n${section}\n` : text.replace(old, () => section));
}

import { readFileSync, writeFileSync } from 'node:fs';

/**
 * bench/results.md is written by several commands: `npm run bench` writes the file, and
 * `npm run load`, `node bench/cold-start-steps.ts` and `node bench/cost/cost.ts` each their
 * section, between markers named after them. Each keeps what the others wrote last.
 */
const RESULTS = new URL('results.md', import.meta.url);
const SECTIONS = ['npm run load', 'cold-start steps', 'cost per 1,000 checks'];
const markers = (name: string) => ({ start: `<!-- ${name}: start -->`, end: `<!-- ${name}: end -->` });

const current = (): string => {
  try {
    return readFileSync(RESULTS, 'utf8');
  } catch {
    return '';
  }
};

/** What a command wrote last, markers included; empty when it never ran. */
function section(text: string, name: string): string {
  const { start, end } = markers(name);
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  return from >= 0 && to > from ? text.slice(from, to + end.length) : '';
}

/** Writes `npm run bench`'s part of the file, keeping every section. */
export function writeBenchResults(markdown: string): void {
  const text = current();
  const kept = SECTIONS.map((name) => section(text, name)).filter((found) => found !== '');
  writeFileSync(RESULTS, [markdown.trimEnd(), ...kept].join('\n\n') + '\n');
}

/** Replaces (or adds) the section `name`, keeping the rest of the file. */
export function writeSection(name: string, markdown: string): void {
  const text = current();
  const { start, end } = markers(name);
  const replacement = `${start}\n${markdown.trim()}\n${end}`;
  const old = section(text, name);
  writeFileSync(RESULTS, old === '' ? `${text.trimEnd()}\n\n${replacement}\n` : text.replace(old, () => replacement));
}

/** `npm run load`'s section. */
export function writeLoadResults(markdown: string): void {
  writeSection('npm run load', markdown);
}

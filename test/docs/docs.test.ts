import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { remark } from 'remark';
import remarkGfm from 'remark-gfm';
import remarkValidateLinks from 'remark-validate-links';
import { engine, type Options as EngineOptions } from 'unified-engine';
import { visit } from 'unist-util-visit';
import type { VFile } from 'vfile';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { RELAY_STATUS } from '../../lib/platform/envelope.ts';

/**
 * The documentation stands alone and says what the code does: every link of every Markdown file
 * stays inside the repository and resolves (files and headings), and the tables that must be
 * complete are: every variable the code reads in docs/configuration.md, every sub_code with
 * its status in docs/api.md, every deployment parameter with its defaults in docs/deploying.md,
 * every alarm in docs/operating.md.
 */
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const text = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
/** Files of the repository, committed or about to be (not ignored). */
const repoFiles = (...patterns: string[]) =>
  execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '--', ...patterns], { cwd: repoRoot, encoding: 'utf8' }).split('\n').filter(Boolean);

/** Rows of the Markdown tables in `markdown`, cells trimmed, header and separator rows included. */
const tableRows = (markdown: string): string[][] =>
  markdown.split('\n').filter((line) => line.startsWith('|')).map((line) => line.slice(1, -1).split(/(?<!\\)\|/).map((cell) => cell.trim()));
const unquote = (cell: string | undefined) => (cell ?? '').replace(/^`|`$/g, '');

describe('Markdown links', () => {
  const markdownFiles = repoFiles('*.md');

  it('resolve: every relative link and image of every Markdown file names a file that exists, and a heading there that exists', async () => {
    expect(markdownFiles.length).toBeGreaterThan(6);
    const files = await new Promise<VFile[]>((resolve, reject) => {
      engine(
        {
          processor: remark().use(remarkGfm),
          // Given to the engine, not to the processor, the plugin gets the engine's set of files and
          // so checks headings in other files too. (The engine types its plugins for any unist
          // tree, this one for Markdown's.)
          plugins: [[remarkValidateLinks, { repository: false }]] as unknown as EngineOptions['plugins'],
          files: markdownFiles,
          cwd: repoRoot,
          silent: true,
          quiet: true,
          out: false,
          color: false,
          detectConfig: false,
          detectIgnore: false,
        },
        (error, _code, context) => (error ? reject(error) : resolve(context?.files ?? [])),
      );
    });
    expect(files.length).toBe(markdownFiles.length);
    expect(files.flatMap((file) => file.messages.map((message) => `${file.path}:${message.line ?? '?'} ${message.reason}`))).toEqual([]);
  });

  it('stay inside the repository: no link leaves it, by URL or by path', () => {
    const outside: string[] = [];
    for (const path of markdownFiles) {
      const tree = remark().use(remarkGfm).parse(text(path));
      visit(tree, ['link', 'image', 'definition'], (node) => {
        const { url } = node as { url: string };
        const target = new URL(url, `file://${repoRoot}${path}`);
        if (/^[a-z][a-z0-9+.-]*:/i.test(url) || !target.pathname.startsWith(repoRoot)) outside.push(`${path}: ${url}`);
      });
    }
    expect(outside).toEqual([]);
  });

  it('name no folder of the machine they were written on, and no material outside the repository', () => {
    const machinePath = new RegExp(['/wo' + 'rk/', '/ro' + 'ot/', '/ho' + 'me/', '\\.\\./sha' + 'red', 'sha' + 'red/CON' + 'TRACT'].join('|'));
    const found = repoFiles().filter((path) => /\.(md|ts|cjs|js|json|ya?ml|html|css|txt)$/.test(path) && path !== 'package-lock.json')
      .flatMap((path) => text(path).split('\n').map((line, index) => [path, index + 1, line] as const))
      .filter(([, , line]) => machinePath.test(line))
      .map(([path, line]) => `${path}:${line}`);
    expect(found).toEqual([]);
  });
});

describe('shell commands in the Markdown files', () => {
  it('hold no comments, which zsh (macOS’s shell) runs as arguments unless interactivecomments is set', () => {
    const blocks = repoFiles('*.md').flatMap((path) => [...text(path).matchAll(/```(?:sh|bash|shell)\n([\s\S]*?)```/g)].map((block) => [path, block[1] as string] as const));
    expect(blocks.length).toBeGreaterThan(10);
    const commented = blocks.flatMap(([path, block]) => block.split('\n').filter((line) => /(^|\s)#/.test(line)).map((line) => `${path}: ${line}`));
    expect(commented).toEqual([]);
  });
});

describe('docs/configuration.md', () => {
  it('names every environment variable the code reads', () => {
    const sources = repoFiles('lib', 'functions', 'scripts', 'deploy').filter((path) => /\.(ts|cjs)$/.test(path));
    const read = new Set<string>();
    const patterns = [
      /\b(?:process\.env|env)\.([A-Z][A-Z0-9_]+)/g,
      /\b(?:process\.env|env)\[['"]([A-Z][A-Z0-9_]+)['"]\]/g,
      /\b(?:positiveInteger|nonNegativeInteger|percentBelow100)\(env, '([A-Z][A-Z0-9_]+)'/g,
      /\bwholeNumber\('([A-Z][A-Z0-9_]+)'/g,
    ];
    for (const path of sources) for (const pattern of patterns) for (const match of text(path).matchAll(pattern)) read.add(match[1] as string);
    expect(read.size).toBeGreaterThan(30);
    const configuration = text('docs/configuration.md');
    expect([...read].filter((name) => !configuration.includes(`\`${name}\``)).sort()).toEqual([]);
  });
});

describe('docs/api.md', () => {
  it('lists every sub_code the relay answers with, with its status', () => {
    const rows = tableRows(text('docs/api.md')).filter((row) => /^`[A-Z0-9_]+`$/.test(row[0] ?? ''));
    const statuses = new Map(rows.map((row) => [unquote(row[0]), (row[1] ?? '').split(/,\s*/)]));
    for (const [subCode, status] of Object.entries(RELAY_STATUS)) expect(statuses.get(subCode), subCode).toContain(String(status));
  });
});

describe('docs/deploying.md', () => {
  type Params = Record<string, Record<string, unknown>>;
  const params = (parse(text('serverless.yml')) as { params: Params }).params;
  const written = (value: unknown) =>
    String(value).replaceAll('${self:service}', 'liveness-relay').replaceAll('${sls:stage}', '<stage>').replaceAll('${self:provider.region}', '<region>');
  const rows = new Map(tableRows(text('docs/deploying.md')).filter((row) => /^`\w+`$/.test(row[0] ?? '')).map((row) => [unquote(row[0]), row]));

  it('lists every parameter with its default and its prod value as serverless.yml sets them', () => {
    const problems: string[] = [];
    for (const [name, value] of Object.entries(params.default ?? {})) {
      const row = rows.get(name);
      if (row === undefined) {
        problems.push(`${name}: missing`);
        continue;
      }
      // A parameter made of others is described, not copied.
      if (!String(value).includes('${param:') && unquote(row[1]) !== (value === '' ? "''" : written(value))) problems.push(`${name}: default ${row[1]} ≠ ${written(value)}`);
      const prod = params.prod?.[name];
      if (unquote(row[2]) !== (prod === undefined ? '' : written(prod))) problems.push(`${name}: prod ${row[2]} ≠ ${String(prod)}`);
    }
    expect(problems).toEqual([]);
  });

  it('says dev keeps to 1 request/s', () => {
    expect(params.dev).toBeUndefined();
    expect(params.default?.apiRateLimit).toBe(1);
    expect(text('docs/deploying.md')).toContain('1 request/s');
  });
});

describe('docs/operating.md', () => {
  it('says what every alarm of the stack (deploy/alarms.yml) means and what to do', () => {
    const resources = (parse(text('deploy/alarms.yml')) as { Resources: Record<string, { Type: string; Properties: { AlarmName?: string } }> }).Resources;
    const alarms = Object.values(resources).filter((resource) => resource.Type === 'AWS::CloudWatch::Alarm')
      .map((alarm) => String(alarm.Properties.AlarmName).replace('${self:service}-${sls:stage}-', 'liveness-relay-<stage>-'));
    expect(alarms.length).toBeGreaterThan(10);
    const headings = new Set([...text('docs/operating.md').matchAll(/^### `([^`]+)`$/gm)].map((match) => match[1]));
    expect(alarms.filter((alarm) => !headings.has(alarm))).toEqual([]);
    expect([...headings].filter((heading) => !alarms.includes(heading as string))).toEqual([]);
  });
});

/**
 * Builds the capture page (web/capture) into one HTML document with its script and styles inline,
 * written to .build/capture-page.json together with the SHA-256 hashes the page's
 * Content-Security-Policy allows them by, and its sizes. functions/capture-page.ts serves it.
 *
 * Nothing generated is committed: `npm start`, `npm test`, `npm run typecheck` and `npm run bench`
 * run this first (their pre-scripts), and deploy/capture-page.cjs runs it before `serverless
 * package`, `deploy` and `invoke local`, so a fresh clone builds it whichever way it starts.
 *
 *   node scripts/build-capture-page.ts
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { TEXTS } from '../web/capture/texts.ts';

/** What functions/capture-page.ts serves. */
export interface CapturePage {
  html: string;
  /** CSP source expressions (`'sha256-...'`) of the inline script and style. */
  scriptHash: string;
  styleHash: string;
  bytes: number;
  gzipBytes: number;
}

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const source = (path: string) => fileURLToPath(new URL(`../web/capture/${path}`, import.meta.url));
export const CAPTURE_PAGE_FILE = fileURLToPath(new URL('../.build/capture-page.json', import.meta.url));

/** Browsers the page supports: those with getUserMedia, ImageBitmap and the CSS it uses. */
const TARGETS = ['chrome100', 'edge100', 'firefox100', 'safari15', 'ios15'];

const escapeHtml = (value: string): string =>
  value.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

const cspHash = (content: string): string => `'sha256-${createHash('sha256').update(content, 'utf8').digest('base64')}'`;

async function bundle(entry: string): Promise<string> {
  const result = await build({
    absWorkingDir: repoRoot,
    entryPoints: [source(entry)],
    bundle: true,
    minify: true,
    format: 'iife',
    target: TARGETS,
    legalComments: 'none',
    charset: 'utf8',
    write: false,
    logLevel: 'silent',
  });
  const output = result.outputFiles[0]?.text;
  if (output === undefined) throw new Error(`esbuild wrote nothing for ${entry}`);
  return output.trim();
}

export async function buildCapturePage(): Promise<CapturePage> {
  const [script, style] = await Promise.all([bundle('main.ts'), bundle('styles.css')]);
  // Inline content must not be able to close its own element.
  if (/<\/script/i.test(script) || /<\/style/i.test(style)) throw new Error('the bundle contains a closing tag');
  const template = readFileSync(source('index.html'), 'utf8');
  const texts: Readonly<Record<string, string>> = TEXTS;
  const html = template
    // One line: the markup's indentation is for its readers only.
    .replace(/>\s*\n\s*/g, '>')
    .replace(/\s*\n\s*</g, '<')
    .replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
      const value = texts[key];
      if (value === undefined) throw new Error(`web/capture/index.html names {{${key}}}, which texts.ts does not have`);
      return escapeHtml(value);
    })
    .replace('<!--style-->', () => `<style>${style}</style>`)
    .replace('<!--script-->', () => `<script>${script}</script>`);
  return {
    html,
    scriptHash: cspHash(script),
    styleHash: cspHash(style),
    bytes: Buffer.byteLength(html),
    gzipBytes: gzipSync(html, { level: 9 }).byteLength,
  };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const page = await buildCapturePage();
  mkdirSync(new URL('../.build/', import.meta.url), { recursive: true });
  writeFileSync(CAPTURE_PAGE_FILE, `${JSON.stringify(page)}\n`);
  process.stderr.write(`[build] capture page: ${page.bytes} bytes, ${page.gzipBytes} gzipped -> .build/capture-page.json\n`);
}

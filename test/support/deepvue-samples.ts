import { spawnSync } from 'node:child_process';

/**
 * Deepvue's request samples (test/fixtures/deepvue/samples/) and the interpreter each needs: what
 * test/local-server/deepvue-clients.test.ts runs, and what test/setup/samples-notice.ts names
 * after a run when an interpreter is missing. They are required (a missing one fails the tests)
 * with DEEPVUE_SAMPLES=required or CI=true.
 */
export interface Sample {
  file: string;
  language: string;
  /** The command that runs `path`, or why it cannot run on this machine. */
  command(path: string): [string, string[]] | string;
  /** Whether what the program printed is a SUCCESS answer, as that language prints it. */
  succeeded(output: string): boolean;
  timeoutMs: number;
}

export const samplesRequired = process.env.DEEPVUE_SAMPLES === 'required' || process.env.CI === 'true';

const runs = (command: string, args: string[]) => spawnSync(command, args, { stdio: 'ignore', timeout: 30_000 }).status === 0;
/** The first python3 that has `requests` (pyenv's, say, or Debian's python3-requests under /usr/bin). */
const pythonWithRequests = () => ['python3', '/usr/bin/python3'].find((python) => runs(python, ['-c', 'import requests']));
const subCode = (output: string) => (JSON.parse(output) as { sub_code?: unknown }).sub_code;

export const SAMPLES: Sample[] = [
  {
    file: 'liveness-check.sh',
    language: 'curl',
    command: (path) => (runs('curl', ['--version']) ? ['sh', [path]] : 'curl not found (apt-get install curl)'),
    succeeded: (output) => subCode(output) === 'SUCCESS',
    timeoutMs: 60_000,
  },
  {
    file: 'liveness_check.py',
    language: 'Python requests',
    command: (path) => {
      const python = pythonWithRequests();
      return python === undefined ? 'no python3 with requests (apt-get install python3-requests)' : [python, [path]];
    },
    succeeded: (output) => output.includes("'sub_code': 'SUCCESS'") && output.includes("'is_live': True"),
    timeoutMs: 60_000,
  },
  {
    file: 'liveness-check.mjs',
    language: 'JavaScript fetch',
    command: (path) => [process.execPath, [path]],
    succeeded: (output) => output.includes("sub_code: 'SUCCESS'") && output.includes('is_live: true'),
    timeoutMs: 60_000,
  },
  {
    file: 'liveness-check.go',
    language: 'Go net/http',
    command: (path) => (runs('go', ['version']) ? ['go', ['run', path]] : 'no Go toolchain (apt-get install golang-go)'),
    succeeded: (output) => output.trim() === 'Response Status: 200 OK',
    // Debian's Go ships its standard library compiled; a toolchain that does not compiles net/http first.
    timeoutMs: 240_000,
  },
  {
    file: 'liveness-check.rb',
    language: 'Ruby net/http',
    command: (path) => (runs('ruby', ['--version']) ? ['ruby', [path]] : 'no Ruby (apt-get install ruby)'),
    succeeded: (output) => subCode(output) === 'SUCCESS',
    timeoutMs: 60_000,
  },
];

/** Why a sample is skipped: `Deepvue's <language> sample SKIPPED: <reason>`. */
export const skipNotice = (sample: Sample, reason: string): string => `Deepvue's ${sample.language} sample SKIPPED: ${reason}`;

import { fork } from 'node:child_process';

export interface ChildOptions {
  /** Arguments for the child's `process.argv`. */
  args?: string[];
  /** Node flags, e.g. `--expose-gc`. */
  execArgv?: string[];
  env?: Record<string, string>;
}

/**
 * Runs a bench module in a fresh Node process and resolves with the one result it sends back
 * (see `sendResult`). Each measurement gets its own process so that no row's heap, JIT state or
 * sockets pollute another's. The child's standard output (the relay's logs and EMF records) is
 * discarded: writing it is part of what a check costs, printing it would bury the table.
 */
export function runInChild<T>(module: URL, options: ChildOptions = {}): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const child = fork(module, options.args ?? [], {
      execArgv: options.execArgv ?? [],
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    let result: { value: T } | undefined;
    // The child's own code sends exactly one message: the result type it declares.
    child.once('message', (message) => {
      result = { value: message as T };
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (result !== undefined) resolve(result.value);
      else reject(new Error(`${module.pathname} ended (${signal ?? `exit code ${code}`}) without a result`));
    });
  });
}

/** In a child started by `runInChild`: hands the result to the parent and ends the process. */
export function sendResult(result: unknown): void {
  if (process.send === undefined) {
    console.log(JSON.stringify(result, null, 2));
    process.exit(0);
  }
  process.send(result, () => process.exit(0));
}

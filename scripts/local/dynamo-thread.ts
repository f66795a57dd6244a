import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { parentPort } from 'node:worker_threads';
import { listenOnLoopback } from './loopback.ts';

/** The thread startLocalDynamo (./dynamo.ts) serves dynalite from: it posts the server's URL once listening. */

// dynalite ships no type declarations; this is the one call made here.
type DynaliteFactory = (options: { createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => Server;

const dynalite = createRequire(import.meta.url)('dynalite') as DynaliteFactory;
const { url } = await listenOnLoopback(dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 }));
parentPort?.postMessage(url);

/**
 * Parse a large YAML config in a worker thread, synchronously. The `yaml` parser's document of a
 * 100,000-check config (12 MB) peaks at ~1.3 GB of heap; parsed on the main thread, V8 keeps that
 * heap (RSS 1.5 GB at rest instead of 0.4 GB with the same config as JSON). In a worker the garbage
 * dies with the worker's heap; the main thread gets only the plain value (structured clone).
 */
import { createRequire } from 'node:module';
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';

/** Configs at least this large (bytes) are parsed off the main thread; smaller ones are not worth a worker. */
export const OFF_THREAD_BYTES = 1 << 20;

const WORKER = `
const { workerData } = require('node:worker_threads');
let msg;
try {
  const { parseDocument } = require(workerData.yaml);
  const doc = parseDocument(workerData.text, { prettyErrors: true });
  msg = doc.errors.length ? { errors: doc.errors.map((e) => e.message) } : { value: doc.toJS() ?? {} };
} catch (err) {
  msg = { errors: [String(err && err.message || err)] };
}
workerData.port.postMessage(msg);
Atomics.store(workerData.signal, 0, 1);
Atomics.notify(workerData.signal, 0);
`;

export interface YamlResult {
  value?: unknown;
  /** The parser's messages, when the text is not valid YAML. */
  errors?: string[];
}

export function parseYamlOffThread(text: string): YamlResult {
  const yaml = createRequire(import.meta.url).resolve('yaml');
  const signal = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(WORKER, { eval: true, workerData: { text, yaml, port: port2, signal }, transferList: [port2] });
  try {
    // The worker signals whatever the parse gives (its errors are a result); only a worker that
    // dies (out of memory) does not, and the wait ends at the timeout.
    if (Atomics.wait(signal, 0, 0, 120_000) === 'timed-out') return { errors: ['the YAML parser did not finish within 120 s'] };
    const got = receiveMessageOnPort(port1);
    return got ? (got.message as YamlResult) : { errors: ['the YAML parser returned nothing'] };
  } finally {
    port1.close();
    void worker.terminate();
  }
}

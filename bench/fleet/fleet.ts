import { Worker } from "node:worker_threads";
import type { NodeWorkerData, NodeWorkerMessage } from "./node-worker.js";

/** A fleet of registry nodes, each in its own worker thread. */
export class WorkerFleet {
  private constructor(
    readonly workers: Map<string, Worker>,
    private readonly listeners: Set<(m: NodeWorkerMessage) => void>,
  ) {}

  static async start(nodes: NodeWorkerData[]): Promise<WorkerFleet> {
    const listeners = new Set<(m: NodeWorkerMessage) => void>();
    const workers = new Map<string, Worker>();
    await Promise.all(
      nodes.map(
        (data) =>
          new Promise<void>((resolve, reject) => {
            const worker = new Worker(new URL("./node-worker.js", import.meta.url), {
              workerData: data,
            });
            const id = String(data.config.id);
            workers.set(id, worker);
            worker.on("error", reject);
            worker.on("message", (m: NodeWorkerMessage) => {
              if (m.type === "ready" && m.id === id) resolve();
              for (const l of listeners) l(m);
            });
          }),
      ),
    );
    return new WorkerFleet(workers, listeners);
  }

  onMessage(listener: (m: NodeWorkerMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async stop(): Promise<void> {
    await Promise.all(
      [...this.workers.entries()].map(
        ([id, worker]) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => void worker.terminate().then(() => resolve()), 5_000);
            const off = this.onMessage((m) => {
              if (m.type === "stopped" && m.id === id) {
                clearTimeout(timer);
                off();
                void worker.terminate().then(() => resolve());
              }
            });
            worker.postMessage({ type: "stop" });
          }),
      ),
    );
  }
}

/**
 * Durable state in JetStream KV. Values are JSON; every change is a compare-and-set on the key's
 * revision, retried against concurrent writers, so replicas never overwrite each other.
 */
import { ErrorCodes, RvssError } from "@rvss/core";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { KV, KvEntry } from "@nats-io/kv";
import type { JetStreamManager } from "@nats-io/jetstream";

export interface Versioned<T> {
  value: T;
  revision: number;
}

/** What a mutation decides: the next value (undefined keeps the record, null deletes it) and a result. */
export interface Mutation<T, R> {
  next: T | null | undefined;
  result: R;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function isCasConflict(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

function live(e: KvEntry | null): e is KvEntry {
  return e !== null && e.operation === "PUT";
}

export class StateStore {
  /** The last write or mutation started per key (see `serially`). */
  private readonly writing = new Map<string, Promise<unknown>>();

  constructor(
    readonly kv: KV,
    private readonly jsm: JetStreamManager,
    private readonly bucket: string,
  ) {}

  /**
   * One write (or whole mutation) per key at a time from this process. A clustered stream's leader
   * checks a compare-and-set before the write is replicated, so two in flight with the same expected
   * revision can both be accepted and the second silently undoes the first (nats-server#4320, and
   * again around leader changes); a write sent after the other's ack is checked against it.
   */
  private serially<R>(key: string, write: () => Promise<R>): Promise<R> {
    const run = (this.writing.get(key) ?? Promise.resolve()).catch(() => undefined).then(write);
    this.writing.set(key, run);
    const forget = (): void => {
      if (this.writing.get(key) === run) this.writing.delete(key);
    };
    run.then(forget, forget);
    return run;
  }

  async get<T>(key: string): Promise<Versioned<T> | null> {
    const e = await this.kv.get(key);
    return live(e) ? { value: JSON.parse(dec.decode(e.value)) as T, revision: e.revision } : null;
  }

  /**
   * Reads, decides, writes with compare-and-set; on a lost race reads again and re-decides. The
   * decision must be a pure function of the current value so that re-deciding is safe. A process
   * runs one mutation of a key at a time, so only other processes make it re-decide.
   */
  mutate<T, R>(key: string, decide: (current: Versioned<T> | null) => Mutation<T, R>, attempts = 50): Promise<R> {
    return this.serially(key, async () => {
      for (let i = 0; i < attempts; i++) {
        const current = await this.get<T>(key);
        const { next, result } = decide(current);
        if (next === undefined) return result;
        try {
          if (next === null) {
            if (current) await this.kv.delete(key, { previousSeq: current.revision });
          } else if (current) {
            await this.kv.update(key, enc.encode(JSON.stringify(next)), current.revision);
          } else {
            await this.kv.create(key, enc.encode(JSON.stringify(next)));
          }
          return result;
        } catch (err) {
          if (!isCasConflict(err)) throw err;
          await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 ** i)));
        }
      }
      throw new RvssError(
        ErrorCodes.CONFLICT,
        `state key "${key}" kept changing under concurrent writers; gave up after ${attempts} attempts`,
        { key },
      );
    });
  }

  /**
   * Writes `value` if the key is still at `revision` (null: if it does not exist) and returns the new
   * revision; null when another writer got there first (the caller re-reads and decides again).
   */
  async compareAndSet<T>(key: string, value: T, revision: number | null): Promise<number | null> {
    try {
      if (revision === null)
        return await this.serially(key, () => this.kv.create(key, enc.encode(JSON.stringify(value))));
      return await this.serially(key, () => this.kv.update(key, enc.encode(JSON.stringify(value)), revision));
    } catch (err) {
      if (isCasConflict(err)) return null;
      throw err;
    }
  }

  /** Creates a key that must not exist yet; false when it already does. */
  async create<T>(key: string, value: T): Promise<boolean> {
    try {
      await this.serially(key, () => this.kv.create(key, enc.encode(JSON.stringify(value))));
      return true;
    } catch (err) {
      if (isCasConflict(err)) return false;
      throw err;
    }
  }

  async put<T>(key: string, value: T): Promise<void> {
    await this.serially(key, () => this.kv.put(key, enc.encode(JSON.stringify(value))));
  }

  async delete(key: string): Promise<void> {
    await this.serially(key, () => this.kv.delete(key));
  }

  /** Keys matching a filter with NATS wildcards (see `bucketKeys`). */
  keys(filter: string): Promise<string[]> {
    return bucketKeys(this.jsm, this.bucket, filter);
  }

  /** Every live value under a filter. */
  async list<T>(filter: string): Promise<Versioned<T>[]> {
    const keys = await this.keys(filter);
    const values = await Promise.all(keys.map((k) => this.get<T>(k)));
    return values.filter((v): v is Versioned<T> => v !== null);
  }

  /**
   * Resolves with the first value of `key` that satisfies `until`, watching for changes, or undefined
   * when `timeoutMs` passes first.
   */
  async waitFor<T>(key: string, until: (v: T | null) => boolean, timeoutMs: number): Promise<T | null | undefined> {
    const watcher = await this.kv.watch({ key });
    const timer = setTimeout(() => watcher.stop(), timeoutMs);
    try {
      for await (const e of watcher) {
        const v = e.operation === "PUT" ? (JSON.parse(dec.decode(e.value)) as T) : null;
        if (until(v)) return v;
      }
      return undefined;
    } finally {
      clearTimeout(timer);
      watcher.stop();
    }
  }
}

/**
 * Keys of a KV bucket matching a filter, from the bucket stream's per-subject counts: one request,
 * unlike the client's keys(), whose consumer can wait out a long heartbeat when keys change while it
 * lists them. A key deleted since may be among them; its value then reads as deleted.
 */
export async function bucketKeys(jsm: JetStreamManager, bucket: string, filter: string): Promise<string[]> {
  const prefix = `$KV.${bucket}.`;
  const info = await jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}${filter}` });
  return Object.keys(info.state.subjects ?? {}).map((s) => s.slice(prefix.length));
}

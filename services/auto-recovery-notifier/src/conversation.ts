/**
 * The notifier's side of the writer protocol: find the writers registered for a set's shares, ask
 * each one a step over request/reply, and turn every answer (or silence) into a WriterReport.
 * A writer that does not answer in time is a failure with a reason, never a hang.
 */
import { randomUUID } from "node:crypto";
import { errorMessage, WRITERS_BUCKET, writerSubject, WRITER_KEYS } from "@rvss/core";
import { bucketKeys, type Bus } from "@rvss/bus";
import { KvWatchInclude, Kvm, type KV } from "@nats-io/kv";
import { WriterRegistration, WriterRequest, WriterResponse, type WriterReport } from "@rvss/proto";

export type WriterStep = NonNullable<WriterRequest["step"]>;

export interface SetContext {
  svm: string;
  setId: string;
  backupId: string;
}

export class Writers {
  /**
   * Live registrations, kept by watching the bucket rather than reading it for every set. A writer
   * that stops putting its registration is dropped after `ttlMs` (entries that age out of the bucket
   * send no notice to watchers).
   */
  private readonly live = new Map<string, { registration: WriterRegistration; seenAt: number }>();

  private constructor(
    private readonly kv: KV,
    private readonly bus: Bus,
    private readonly ttlMs: number,
  ) {}

  static async open(bus: Bus, ttlMs: number): Promise<Writers> {
    const w = new Writers(await new Kvm(bus.js).open(WRITERS_BUCKET), bus, ttlMs);
    const updates = await w.kv.watch({ key: WRITER_KEYS, include: KvWatchInclude.UpdatesOnly });
    void (async () => {
      for await (const e of updates) w.note(e.key, e.operation === "PUT" ? e.value : null);
    })();
    for (const key of await bucketKeys(bus.jsm, WRITERS_BUCKET, WRITER_KEYS)) {
      const e = await w.kv.get(key);
      if (e && e.operation === "PUT" && !w.live.has(key)) w.note(key, e.value);
    }
    return w;
  }

  private note(key: string, value: Uint8Array | null): void {
    if (value) this.live.set(key, { registration: WriterRegistration.decode(value), seenAt: Date.now() });
    else this.live.delete(key);
  }

  /** Every live registration. */
  async all(): Promise<WriterRegistration[]> {
    const now = Date.now();
    return [...this.live.values()].filter((w) => now - w.seenAt <= this.ttlMs).map((w) => w.registration);
  }

  /** The writers of an SVM that own files on any of these shares. */
  async forShares(svm: string, shares: string[]): Promise<WriterRegistration[]> {
    const wanted = new Set(shares.map((s) => s.toLowerCase()));
    return (await this.all()).filter((w) => w.svm === svm && w.shares.some((s) => wanted.has(s.share.toLowerCase())));
  }

  async byIds(ids: string[]): Promise<Map<string, WriterRegistration>> {
    const all = await this.all();
    return new Map(all.filter((w) => ids.includes(w.writerId)).map((w) => [w.writerId, w]));
  }

  /** Asks one writer one step; any failure, including silence, becomes a report that says why. */
  async ask(
    writer: { writerId: string; name: string },
    ctx: SetContext,
    step: WriterStep,
    timeoutMs: number,
  ): Promise<WriterReport> {
    const started = Date.now();
    const req: WriterRequest = {
      requestId: randomUUID(),
      svm: ctx.svm,
      setId: ctx.setId,
      backupId: ctx.backupId,
      step,
    };
    const report = (ok: boolean, reason: string, detail = ""): WriterReport => ({
      writerId: writer.writerId,
      name: writer.name,
      ok,
      reason,
      detail,
      answeredAt: new Date(),
      elapsedMs: Date.now() - started,
    });
    try {
      const msg = await this.bus.nc.request(
        writerSubject(writer.writerId, step.$case),
        WriterRequest.encode(req).finish(),
        { timeout: timeoutMs },
      );
      const res = WriterResponse.decode(msg.data);
      return report(res.ok, res.ok ? "" : res.reason || "the writer reported a failure without a reason", res.detail);
    } catch (err) {
      const m = errorMessage(err);
      const why = /no responders|503/i.test(m)
        ? "the writer is not reachable (it stopped or lost its connection)"
        : /timeout/i.test(m)
          ? `did not answer within ${timeoutMs} ms`
          : m;
      return report(false, why);
    }
  }
}

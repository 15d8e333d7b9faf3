/**
 * The notifier's side of the writer protocol: find the writers registered for a set's shares, ask
 * each one a step over request/reply, and turn every answer (or silence) into a WriterReport.
 * A writer that does not answer in time is a failure with a reason, never a hang.
 */
import { randomUUID } from "node:crypto";
import { errorMessage, token, WRITERS_BUCKET, writerKeyParts, writerSubject, WRITER_KEYS } from "@rvss/core";
import { bucketKeys, type Bus } from "@rvss/bus";
import { KvWatchInclude, Kvm, type KV } from "@nats-io/kv";
import { WriterRegistration, WriterRequest, WriterResponse, type WriterReport } from "@rvss/proto";

export type WriterStep = NonNullable<WriterRequest["step"]>;

export interface SetContext {
  svm: string;
  setId: string;
  backupId: string;
}

/** One share's registration: what the key names (tokens, see writerKey) and what the writer sent. */
interface Entry {
  writerId: string;
  svm: string;
  share: string;
  registration: WriterRegistration;
  seenAt: number;
}

export class Writers {
  /**
   * Live registrations, one per writer and share, kept by watching the bucket rather than reading
   * it for every set. A writer that stops putting its registration is dropped after `ttlMs`
   * (entries that age out of the bucket send no notice to watchers).
   */
  private readonly live = new Map<string, Entry>();

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

  /**
   * NATS lets a writer's user put only its own keys, for the shares it was granted; the body could
   * say anything. So an entry counts for the writer, SVM and share its key names, and only if the
   * body agrees with them.
   */
  private note(key: string, value: Uint8Array | null): void {
    const parts = writerKeyParts(key);
    if (!value || !parts) {
      this.live.delete(key);
      return;
    }
    let registration: WriterRegistration;
    try {
      registration = WriterRegistration.decode(value);
    } catch {
      // A writer's body is its own to send: one that does not decode counts for nothing.
      this.live.delete(key);
      return;
    }
    const claims =
      parts.writerId === token(registration.writerId) &&
      parts.svm === token(registration.svm.toLowerCase()) &&
      registration.shares.some((s) => token(s.share.toLowerCase()) === parts.share);
    if (claims) this.live.set(key, { ...parts, registration, seenAt: Date.now() });
    else this.live.delete(key);
  }

  /**
   * Every live writer, once, its registration holding only the shares it has a live key for: a
   * writer granted share1 that claims share1 and share2 in its body is a writer of share1.
   */
  async all(): Promise<WriterRegistration[]> {
    const now = Date.now();
    const byWriter = new Map<string, { registration: WriterRegistration; shares: Set<string> }>();
    for (const e of this.live.values()) {
      if (now - e.seenAt > this.ttlMs) continue;
      const w = byWriter.get(e.writerId) ?? { registration: e.registration, shares: new Set<string>() };
      w.shares.add(e.share);
      byWriter.set(e.writerId, w);
    }
    return [...byWriter.values()].map(({ registration, shares }) => ({
      ...registration,
      shares: registration.shares.filter((s) => shares.has(token(s.share.toLowerCase()))),
    }));
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

/** The everyday commands: backups, snapshots, restores, events. */
import { parseArgs } from "node:util";
import * as path from "node:path";
import { ErrorCodes, RvssError, EVENTS_STREAM, svmEventsSubject } from "@rvss/core";
import { RvssClient, type DatasetItem } from "@rvss/client";
import { Bus, eventType } from "@rvss/bus";
import { DeliverPolicy } from "@nats-io/jetstream";
import { BackupState, Event, type Backup } from "@rvss/proto";
import { createLogger } from "@rvss/runtime";
import { bytes, describeBackup, describeEvent, stateName } from "./format";
import * as fs from "node:fs";

export function usage(message: string): RvssError {
  return new RvssError(ErrorCodes.INVALID_ARGUMENT, message);
}

function client(): RvssClient {
  return new RvssClient();
}

/** Prints the backup's events as they happen; resolves with the final backup. */
export async function follow(c: RvssClient, backupId: string, print: (line: string) => void): Promise<Backup> {
  const started = Date.now();
  let last: Backup | undefined;
  for await (const msg of c.watchBackup(backupId)) {
    if (msg.event) print(`  +${((Date.now() - started) / 1000).toFixed(3)}s  ${describeEvent(msg.event)}`);
    last = msg.backup ?? last;
  }
  return last ?? (await c.getBackup(backupId));
}

/** The dataset of --svm/--share/--file, or of --dataset FILE: [{"svm", "share", "files", "vms": [{"name", "files"}]}]. */
export function datasetFrom(
  command: string,
  v: { svm?: string; share?: string[]; file?: string[]; dataset?: string },
): DatasetItem[] {
  if (v.dataset) {
    let doc: DatasetItem[];
    try {
      doc = JSON.parse(fs.readFileSync(path.resolve(v.dataset), "utf8")) as DatasetItem[];
    } catch (err) {
      throw usage(`cannot read the dataset ${v.dataset}: ${(err as Error).message}`);
    }
    if (!Array.isArray(doc)) throw usage(`${v.dataset} must hold a JSON array of {"svm", "share", "files", "vms"}`);
    return doc.map((d) => ({
      svm: d.svm,
      share: d.share,
      files: d.files ?? [],
      vms: (d.vms ?? []).map((vm) => ({ name: vm.name, files: vm.files ?? [] })),
    }));
  }
  if (!v.svm || !v.share?.length) throw usage(`${command} needs --svm and --share (or --dataset FILE)`);
  if (v.share.length > 1 && v.file?.length)
    throw usage("--file belongs to one share; with several --share use --dataset FILE");
  return v.share.map((share) => ({ svm: v.svm!, share, files: v.file ?? [] }));
}

export async function backupCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const c = client();
  try {
    switch (sub) {
      case "create": {
        const { values: v } = parseArgs({
          args: rest,
          options: {
            svm: { type: "string" },
            share: { type: "string", multiple: true },
            file: { type: "string", multiple: true },
            dataset: { type: "string" },
            wait: { type: "boolean" },
            json: { type: "boolean" },
            "request-id": { type: "string" },
            description: { type: "string" },
          },
        });
        const b = await c.createBackup({
          dataset: datasetFrom("backup create", v),
          requestId: v["request-id"] ?? "",
          description: v.description ?? "",
        });
        if (!v.wait) {
          console.log(
            v.json
              ? JSON.stringify(b, bigintJson, 2)
              : `backup ${b.id} created (${b.sets.length} set(s)); follow it with: rvss backup describe ${b.id}`,
          );
          return 0;
        }
        console.log(`backup ${b.id}`);
        const final = await follow(c, b.id, (l) => console.log(l));
        console.log(v.json ? JSON.stringify(final, bigintJson, 2) : describeBackup(final));
        return final.state === BackupState.BACKUP_STATE_COMPLETED ? 0 : 1;
      }
      case "describe": {
        const { values: v, positionals } = parseArgs({
          args: rest,
          options: { json: { type: "boolean" } },
          allowPositionals: true,
        });
        if (!positionals[0]) throw usage("usage: rvss backup describe BACKUP_ID");
        const b = await c.getBackup(positionals[0]);
        console.log(v.json ? JSON.stringify(b, bigintJson, 2) : describeBackup(b));
        return 0;
      }
      case "list": {
        const { values: v } = parseArgs({ args: rest, options: { svm: { type: "string" } } });
        const all = await c.listBackups(v.svm ?? "");
        for (const b of all)
          console.log(
            `${b.id}  ${stateName(b.state).padEnd(16)} ${b.createdAt?.toISOString()}  ${b.dataset.map((d) => `${d.svm}/${d.share}`).join(", ")}`,
          );
        if (all.length === 0) console.log("no backups");
        return 0;
      }
      case "cancel": {
        const { positionals } = parseArgs({ args: rest, allowPositionals: true });
        if (!positionals[0]) throw usage("usage: rvss backup cancel BACKUP_ID");
        const b = await c.cancelBackup(positionals[0]);
        console.log(`backup ${b.id}: cancel requested (state ${stateName(b.state)})`);
        return 0;
      }
      default:
        throw usage("usage: rvss backup create|describe|list|cancel ...");
    }
  } finally {
    c.close();
  }
}

export async function snapshotCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== "list") throw usage("usage: rvss snapshot list [--svm S] [--volume V] [--backup ID]");
  const { values: v } = parseArgs({
    args: rest,
    options: {
      svm: { type: "string" },
      volume: { type: "string" },
      backup: { type: "string" },
      json: { type: "boolean" },
    },
  });
  const c = client();
  try {
    const snaps = await c.listSnapshots({ svm: v.svm ?? "", volume: v.volume ?? "", backupId: v.backup ?? "" });
    if (v.json) console.log(JSON.stringify(snaps, bigintJson, 2));
    else if (snaps.length === 0) console.log("no snapshots");
    else
      for (const s of snaps)
        console.log(
          `${s.svm}:${s.volume}@${s.name}  ${s.createdAt?.toISOString()}  backup ${s.backupId}  ${s.shadowCopies.map((x) => x.share).join(", ")}`,
        );
    return 0;
  } finally {
    c.close();
  }
}

export async function restoreCommand(args: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args,
    options: {
      backup: { type: "string" },
      svm: { type: "string" },
      share: { type: "string" },
      file: { type: "string", multiple: true },
      to: { type: "string" },
      "to-share": { type: "boolean" },
      json: { type: "boolean" },
    },
  });
  if (!v.backup)
    throw usage("usage: rvss restore --backup ID [--svm S --share X] [--file F ...] (--to DIR | --to-share)");
  if (!v.to === !v["to-share"])
    throw usage("name exactly one target: --to DIR (a directory) or --to-share (back into the share)");
  const target = v.to
    ? { kind: { $case: "directory" as const, value: path.resolve(v.to) } }
    : { kind: { $case: "share" as const, value: { svm: "", share: "", files: [], vms: [] } } };
  const c = client();
  try {
    const r = await c.restore({
      backupId: v.backup,
      svm: v.svm ?? "",
      share: v.share ?? "",
      files: v.file ?? [],
      target,
    });
    if (v.json) console.log(JSON.stringify(r, bigintJson, 2));
    else {
      for (const f of r.files)
        console.log(`  ${f.path}  ${bytes(f.bytes)}  sha256 ${f.sha256.slice(0, 16)}…  verified`);
      console.log(
        `restored ${r.files.length} file(s), ${bytes(r.bytes)}, every checksum verified${v.to ? `, into ${path.resolve(v.to)}` : " into the share"}`,
      );
    }
    return 0;
  } finally {
    c.close();
  }
}

/** Connects to NATS_URL, as the services do, for commands that read streams directly. */
export function connectCli(): Promise<Bus> {
  const log = createLogger("rvss-cli", { logLevel: "warn", logFormat: "json" });
  return Bus.connect({ servers: process.env.NATS_URL || "nats://127.0.0.1:4222", name: "rvss-cli", log });
}

/** Follows the event stream straight from NATS, as another service subscribing would. */
export async function eventsCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== "tail") throw usage("usage: rvss events tail [--svm S] [--backup ID] [--all]");
  const { values: v } = parseArgs({
    args: rest,
    options: {
      svm: { type: "string" },
      backup: { type: "string" },
      all: { type: "boolean" },
      json: { type: "boolean" },
    },
  });
  const bus = await connectCli();
  const consumer = await bus.js.consumers.get(EVENTS_STREAM, {
    ...(v.svm ? { filter_subjects: svmEventsSubject(v.svm) } : {}),
    deliver_policy: v.all ? DeliverPolicy.All : DeliverPolicy.New,
  });
  const messages = await consumer.consume();
  process.once("SIGINT", () => messages.stop());
  for await (const m of messages) {
    const e = Event.decode(m.data);
    if (v.backup && e.backupId !== v.backup) continue;
    console.log(
      v.json
        ? JSON.stringify({ subject: m.subject, seq: m.seq, type: eventType(e), event: Event.toJSON(e) })
        : `${e.time?.toISOString()}  ${describeEvent(e)}`,
    );
  }
  await bus.close();
  return 0;
}

export function bigintJson(_k: string, v: unknown): unknown {
  return typeof v === "bigint" ? Number(v) : v;
}

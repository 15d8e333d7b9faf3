/**
 * rvss on a loop image, as the tests of the whole system on real filesystems run it: a filesystem
 * of its own (so other work on the disk does not move the space it reports), the one-VM filer on
 * it, a nats-server (TLS, users), the four services as processes, and a client.
 */
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { RvssClient } from "@rvss/client";
import {
  createVmFiler,
  mountLoopFs,
  removeTree,
  startRvss,
  startSecureNats,
  testPki,
  type LoopFs,
  type LoopFsKind,
  type NatsServer,
  type RvssProcesses,
  type VmFiler,
} from "@rvss/testkit";

export interface LoopSystem {
  lfs: LoopFs;
  filer: VmFiler;
  nats: NatsServer;
  rvss: RvssProcesses;
  client: RvssClient;
  /** Stops everything, removes the filer and detaches the image. */
  stop(): Promise<void>;
}

export async function startLoopSystem(
  kind: LoopFsKind,
  opts: { name: string; diskBytes: number; env?: Record<string, string> },
): Promise<LoopSystem> {
  // Undone in reverse by stop(), or at once if a later step fails, so nothing stays mounted.
  const undo: (() => Promise<unknown>)[] = [];
  const stop = async (): Promise<void> => {
    for (const u of undo.splice(0).reverse()) await u().catch(() => undefined);
  };
  try {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), `rvss-${opts.name}-${kind}-`));
    undo.push(() => fsp.rm(dir, { recursive: true, force: true }));
    const lfs = await mountLoopFs(kind, dir, kind === "xfs" ? 512 : 1024);
    undo.push(() => lfs.dispose());
    undo.push(() => removeTree(path.join(lfs.mountPoint, "filer")));
    const filer = await createVmFiler(lfs.mountPoint, { diskBytes: opts.diskBytes, subvolume: kind === "btrfs" });
    const { nats, users } = await startSecureNats(dir);
    undo.push(() => nats.dispose());
    const rvss = await startRvss(
      { NATS_URL: nats.url, RVSS_FILER_CONFIG: filer.configPath, ...opts.env },
      { natsUsers: users },
    );
    undo.push(async () => {
      // A service blocked in the kernel would never stop by itself.
      await Promise.race([rvss.stop(), sleep(15_000)]);
      for (const s of Object.values(rvss.services)) await s.kill();
    });
    const client = new RvssClient({ address: rvss.grpcAddr, auth: testPki().clientAuth() });
    undo.push(async () => client.close());
    await client.waitForReady();
    return { lfs, filer, nats, rvss, client, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * A storage estate of fake ONTAP clusters for the benchmarks: SVMs spread round-robin over the
 * clusters, each SVM one volume at / with its shares at /share<h>, each share one small VM file.
 * Jobs take the ONTAP-like delays of RVSS_STORAGE_LATENCY=ontap, so a set's critical path on the
 * fake is the one the null backend's latency profile models.
 *
 * The clusters live in this process, or spread over `threads` worker threads
 * (BENCH_WAVE_FAKE_THREADS): real clusters do not share one event loop, and fifty of them in one
 * make every call of a wave's burst wait for the others'.
 *
 * The clusters' volumes live in memory (tmpfs) where the machine has it: a real cluster's disks
 * and controllers are its own, while on this machine's disk the fakes' journaled mkdir, clone and
 * unlink took about a third of their CPU from the cores rvss runs on.
 */
import { statSync } from "node:fs";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { ONTAP_LATENCY } from "@rvss/runtime";
import { FakeOntap, makeTestPki, sampleBytes, type FakeCall, type TestPki } from "@rvss/testkit";

export interface OntapEstate {
  /** The filer description (RVSS_FILER_CONFIG). */
  configPath: string;
  /** Calls the clusters answered so far, by kind (see callKind). */
  callKinds(): Promise<Map<string, number>>;
  stop(): Promise<void>;
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/** A call's kind: method and path with UUIDs and file paths as placeholders, the query's telling parts. */
export function callKind(c: FakeCall): string {
  let p = c.path
    .replace(/^(\/protocols\/cifs\/shares\/[^/]+\/)[^/]+/, "$1{share}")
    .replace(/(\/acls\/)[^/]+\/[^/]+$/, "$1{user}/{type}")
    .replace(UUID, "{uuid}");
  const files = /^(\/storage\/volumes\/\{uuid\}\/files)\/?(.*)$/.exec(p);
  if (files) {
    const rel = files[2]!.replace(/\{uuid\}/g, "{id}");
    const shape = rel.startsWith(".snapshot/")
      ? "{snapshot path}"
      : rel === ".rvss" || rel === ".rvss/{id}" || rel === ".rvss/{id}.done"
        ? rel
        : rel.startsWith(".rvss/{id}/")
          ? ".rvss/{id}/{path}"
          : "{share path}";
    p = `${files[1]}/${shape}`;
  }
  const marks = ["return_metadata", "recurse", "name"].filter((k) => k in c.query);
  return `${c.method} ${p}${marks.length ? ` ?${marks.join("&")}` : ""}${c.status >= 300 ? ` -> ${c.status}` : ""}`;
}

interface ClusterSpec {
  index: number;
  root: string;
  svms: string[];
}

interface HostJob {
  pki: TestPki;
  password: string;
  shares: number;
  clusters: ClusterSpec[];
}

/** Starts the clusters of `job` in this thread, their shares filled; returns their addresses. */
async function host(job: HostJob): Promise<{ fakes: FakeOntap[]; addresses: string[] }> {
  const fakes: FakeOntap[] = [];
  for (const c of job.clusters) {
    const fake = await FakeOntap.start({
      root: c.root,
      pki: job.pki,
      username: "rvss",
      password: job.password,
      svms: c.svms.map((name) => ({
        name,
        volumes: [{ name: `${name}_vol`, junction: "/" }],
        shares: Array.from({ length: job.shares }, (_, h) => ({ name: `share${h}`, path: `/share${h}` })),
      })),
      latency: {
        clone: ONTAP_LATENCY.clone,
        shareCreate: ONTAP_LATENCY.expose,
        aclPatch: ONTAP_LATENCY.seal,
        snapshot: ONTAP_LATENCY.snapshot,
        fileDelete: ONTAP_LATENCY.cleanup,
      },
    });
    fakes.push(fake);
    for (const name of c.svms)
      for (let h = 0; h < job.shares; h++) {
        const file = path.join(fake.volumeDir(name, `${name}_vol`), `share${h}`, `vm${h}`, `vm${h}.vhdx`);
        await fsp.mkdir(path.dirname(file), { recursive: true });
        await fsp.writeFile(file, sampleBytes(file, 4096));
      }
  }
  return { fakes, addresses: fakes.map((f) => f.address) };
}

function kinds(fakes: FakeOntap[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const c of fakes.flatMap((f) => f.calls)) out.set(callKind(c), (out.get(callKind(c)) ?? 0) + 1);
  return out;
}

/** A worker thread hosting some clusters: answers "kinds" and "stop". */
if (!isMainThread && (workerData as { ontapEstate?: HostJob } | null)?.ontapEstate) {
  void host((workerData as { ontapEstate: HostJob }).ontapEstate).then(({ fakes, addresses }) => {
    parentPort!.postMessage({ addresses });
    parentPort!.on("message", (m: string) => {
      if (m === "kinds") parentPort!.postMessage({ kinds: [...kinds(fakes)] });
      else void Promise.all(fakes.map((f) => f.stop())).then(() => parentPort!.postMessage({ stopped: true }));
    });
  });
}

function ask<T>(w: Worker, message: string | null, pick: (m: Record<string, unknown>) => T | undefined): Promise<T> {
  return new Promise((resolve, reject) => {
    const on = (m: Record<string, unknown>) => {
      const v = pick(m);
      if (v === undefined) return;
      w.off("message", on);
      w.off("error", reject);
      resolve(v);
    };
    w.on("message", on);
    w.once("error", reject);
    if (message !== null) w.postMessage(message);
  });
}

/** /dev/shm (tmpfs) where it exists, else the temporary directory. */
function fakeDisk(): string {
  try {
    return statSync("/dev/shm").isDirectory() ? "/dev/shm" : os.tmpdir();
  } catch {
    return os.tmpdir();
  }
}

export async function startOntapEstate(
  svms: string[],
  shares: number,
  clusters: number,
  threads = 1,
): Promise<OntapEstate> {
  const dir = await fsp.mkdtemp(path.join(fakeDisk(), "rvss-bench-ontap-"));
  const pki = makeTestPki(path.join(dir, "pki"));
  const password = "bench-secret";
  await fsp.writeFile(path.join(dir, "password"), password, { mode: 0o600 });
  const specs: ClusterSpec[] = Array.from({ length: clusters }, (_, c) => ({
    index: c,
    root: path.join(dir, `cluster${c}`),
    svms: svms.filter((_, i) => i % clusters === c),
  }));
  const addresses = new Array<string>(clusters);
  let callKinds: () => Promise<Map<string, number>>;
  let stopHosts: () => Promise<void>;
  if (threads <= 1) {
    const local = await host({ pki, password, shares, clusters: specs });
    local.addresses.forEach((a, i) => (addresses[i] = a));
    callKinds = async () => kinds(local.fakes);
    stopHosts = async () => void (await Promise.all(local.fakes.map((f) => f.stop())));
  } else {
    const groups = Array.from({ length: threads }, (_, t) => specs.filter((s) => s.index % threads === t));
    const workers = groups.map(
      (group) => new Worker(__filename, { workerData: { ontapEstate: { pki, password, shares, clusters: group } } }),
    );
    await Promise.all(
      workers.map(async (w, t) => {
        const got = await ask(w, null, (m) => m["addresses"] as string[] | undefined);
        got.forEach((a, i) => (addresses[groups[t]![i]!.index] = a));
      }),
    );
    callKinds = async () => {
      const out = new Map<string, number>();
      for (const w of workers)
        for (const [k, n] of await ask(w, "kinds", (m) => m["kinds"] as [string, number][] | undefined))
          out.set(k, (out.get(k) ?? 0) + n);
      return out;
    };
    stopHosts = async () => {
      await Promise.all(workers.map((w) => ask(w, "stop", (m) => m["stopped"] as boolean | undefined)));
      await Promise.all(workers.map((w) => w.terminate()));
    };
  }
  const configPath = path.join(dir, "filer.json");
  const config = {
    clusters: addresses.map((a, c) => ({
      name: `cluster${c}`,
      addresses: [a],
      username: "rvss",
      passwordFile: "password",
      caFile: pki.caFile,
    })),
    svms: svms.map((name, i) => ({ name, backend: "ontap", cluster: `cluster${i % clusters}` })),
  };
  await fsp.writeFile(configPath, JSON.stringify(config));
  return {
    configPath,
    callKinds,
    async stop() {
      await stopHosts();
      await fsp.rm(dir, { recursive: true, force: true });
    },
  };
}

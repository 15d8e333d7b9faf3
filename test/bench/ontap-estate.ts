/**
 * A storage estate of fake ONTAP clusters for the benchmarks: SVMs spread round-robin over the
 * clusters, each SVM one volume at / with its shares at /share<h>, each share one small VM file.
 * Jobs take the ONTAP-like delays of RVSS_STORAGE_LATENCY=ontap, so a set's critical path on the
 * fake is the one the null backend's latency profile models.
 */
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { ONTAP_LATENCY } from "@rvss/runtime";
import { FakeOntap, makeTestPki, sampleBytes, type FakeCall } from "@rvss/testkit";

export interface OntapEstate {
  /** The filer description (RVSS_FILER_CONFIG). */
  configPath: string;
  clusters: FakeOntap[];
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
  const marks = ["return_metadata", "recurse", "name", "fields"].filter((k) => k in c.query && k !== "fields");
  return `${c.method} ${p}${marks.length ? ` ?${marks.join("&")}` : ""}${c.status >= 300 ? ` -> ${c.status}` : ""}`;
}

export async function startOntapEstate(svms: string[], shares: number, clusters: number): Promise<OntapEstate> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-bench-ontap-"));
  const pki = makeTestPki(path.join(dir, "pki"));
  const password = "bench-secret";
  await fsp.writeFile(path.join(dir, "password"), password, { mode: 0o600 });
  const fakes: FakeOntap[] = [];
  for (let c = 0; c < clusters; c++) {
    const mine = svms.filter((_, i) => i % clusters === c);
    fakes.push(
      await FakeOntap.start({
        root: path.join(dir, `cluster${c}`),
        pki,
        username: "rvss",
        password,
        svms: mine.map((name) => ({
          name,
          volumes: [{ name: `${name}_vol`, junction: "/" }],
          shares: Array.from({ length: shares }, (_, h) => ({ name: `share${h}`, path: `/share${h}` })),
        })),
        latency: {
          clone: ONTAP_LATENCY.clone,
          shareCreate: ONTAP_LATENCY.expose,
          aclPatch: ONTAP_LATENCY.seal,
          snapshot: ONTAP_LATENCY.snapshot,
          fileDelete: ONTAP_LATENCY.cleanup,
        },
      }),
    );
    for (const name of mine)
      for (let h = 0; h < shares; h++) {
        const file = path.join(fakes[c]!.volumeDir(name, `${name}_vol`), `share${h}`, `vm${h}`, `vm${h}.vhdx`);
        await fsp.mkdir(path.dirname(file), { recursive: true });
        await fsp.writeFile(file, sampleBytes(file, 4096));
      }
  }
  const configPath = path.join(dir, "filer.json");
  const config = {
    clusters: fakes.map((f, c) => ({
      name: `cluster${c}`,
      addresses: [f.address],
      username: "rvss",
      passwordFile: "password",
      caFile: pki.caFile,
    })),
    svms: svms.map((name, i) => ({ name, backend: "ontap", cluster: `cluster${i % clusters}` })),
  };
  await fsp.writeFile(configPath, JSON.stringify(config));
  return {
    configPath,
    clusters: fakes,
    async stop() {
      await Promise.all(fakes.map((f) => f.stop()));
      await fsp.rm(dir, { recursive: true, force: true });
    },
  };
}

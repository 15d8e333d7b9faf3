/**
 * A fake ONTAP cluster with a filer description that points rvss at it (RVSS_FILER_CONFIG), and
 * the sample layout of the ONTAP Remote VSS documentation on it.
 */
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { FakeOntap, type FakeLatency, type FakeSvmSpec } from "./fake-ontap";
import { makeTestPki, type TestPki } from "./pki";
import { sampleBytes } from "../filer";

export {
  FakeOntap,
  projectFields,
  queryMatches,
  type Fault,
  type FakeAcl,
  type FakeCall,
  type FakeLatency,
  type FakeSvmSpec,
} from "./fake-ontap";
export { makeTestPki, type TestPki } from "./pki";

export interface OntapFiler {
  fake: FakeOntap;
  pki: TestPki;
  /** The filer description (RVSS_FILER_CONFIG). */
  configPath: string;
  cluster: string;
  stop(): Promise<void>;
}

export interface OntapFilerOptions {
  svms: FakeSvmSpec[];
  latency?: Partial<FakeLatency>;
  /** Log in with the password (default) or the test CA's client certificate. */
  auth?: "password" | "certificate";
  /** Written to the password file rvss reads (default: the fake's own password). */
  password?: string;
  /** Extra fields of the cluster's entry (maxInFlight, jobTimeoutMs, returnTimeoutS, attempts). */
  cluster?: Record<string, unknown>;
  /** A PKI made before (one per test run is enough). */
  pki?: TestPki;
  /** Records per page of the fake's collections. */
  pageSize?: number;
}

const PASSWORD = "fake-ontap-secret";

export async function startOntapFiler(dir: string, opts: OntapFilerOptions): Promise<OntapFiler> {
  await fsp.mkdir(dir, { recursive: true });
  const pki = opts.pki ?? makeTestPki(path.join(dir, "pki"));
  const fake = await FakeOntap.start({
    root: path.join(dir, "cluster1"),
    pki,
    svms: opts.svms,
    username: "rvss",
    password: PASSWORD,
    ...(opts.latency ? { latency: opts.latency } : {}),
    ...(opts.pageSize ? { pageSize: opts.pageSize } : {}),
  });
  await fsp.writeFile(path.join(dir, "cluster1.password"), `${opts.password ?? PASSWORD}\n`, { mode: 0o600 });
  const auth =
    opts.auth === "certificate"
      ? { certFile: pki.clientCertFile, keyFile: pki.clientKeyFile }
      : { username: "rvss", passwordFile: "cluster1.password" };
  const configPath = path.join(dir, "filer.json");
  const config = {
    clusters: [{ name: "cluster1", addresses: [fake.address], ...auth, caFile: pki.caFile, ...opts.cluster }],
    svms: opts.svms.map((s) => ({ name: s.name, backend: "ontap", cluster: "cluster1" })),
  };
  await fsp.writeFile(configPath, JSON.stringify(config, null, 2) + "\n");
  return { fake, pki, configPath, cluster: "cluster1", stop: () => fake.stop() };
}

/** The VM files of the sample share, relative to the share root, with their sizes. */
export const SAMPLE_VM_FILES: [string, number][] = [
  ["vm1/Virtual Hard Disks/vm1.vhdx", 1024 * 1024],
  ["vm1/Virtual Machines/vm1.vmcx", 64 * 1024],
  ["vm2/Virtual Hard Disks/vm2.vhdx", 512 * 1024],
];

/** SVM `name` as in the ONTAP documentation: volume vm_vol1 at /hyperv/vm1, share share1 at /hyperv/vm1/dir1/vmdir. */
export function sampleOntapSvm(name: string, extra: Partial<FakeSvmSpec> = {}): FakeSvmSpec {
  return {
    name,
    volumes: [{ name: "vm_vol1", junction: "/hyperv/vm1" }],
    shares: [
      {
        name: "share1",
        path: "/hyperv/vm1/dir1/vmdir",
        acls: [
          { user_or_group: "BUILTIN\\Administrators", type: "windows", permission: "full_control" },
          { user_or_group: "CORP\\hyperv-hosts", type: "windows", permission: "change" },
        ],
      },
    ],
    ...extra,
  };
}

/** Writes the sample VM files into share1 of a sample SVM on the fake; returns the share's directory. */
export async function fillSampleShare(fake: FakeOntap, svm: string): Promise<string> {
  const shareDir = path.join(fake.volumeDir(svm, "vm_vol1"), "dir1", "vmdir");
  for (const [rel, size] of SAMPLE_VM_FILES) {
    await fsp.mkdir(path.dirname(path.join(shareDir, rel)), { recursive: true });
    await fsp.writeFile(path.join(shareDir, rel), sampleBytes(`${svm}/${rel}`, size));
  }
  return shareDir;
}

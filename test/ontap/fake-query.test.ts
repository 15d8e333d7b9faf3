/**
 * The fake ONTAP reads queries as ONTAP documents them: query values with alternatives, wildcards,
 * negation and any case; `fields=` (a record's keys and the fields asked for); the name and type
 * filters of a directory listing; svm.name; the files open in a share; and return_timeout, which
 * answers 201 for a job that succeeded within it and 202 otherwise.
 */
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { Agent } from "undici";
import { projectFields, queryMatches, sampleOntapSvm, startOntapFiler, type OntapFiler } from "@rvss/testkit";

test.each([
  ["share1", "share1", true],
  ["SHARE1", "share1", true],
  ["share1@{6f1d7c4e-0000-4000-8000-1a2b3c4d5e6f}", "*@{*", true],
  ["share1@{6f1d7c4e-0000-4000-8000-1a2b3c4d5e6f}", "*@{*}*", true],
  ["share1", "!*@{*", true],
  ["share1@{x}", "!*@{*", false],
  ["rvss_a_b_20261201T000000Z", "rvss_*", true],
  ["daily.2026-12-01_0010", "rvss_*", false],
  ["vol2", "vol1|vol2", true],
  ["share3", "share1|share2", false],
  ["share2@{b}", "*@{a}*|*@{b}*", true],
  ["a.b", "a?b", false],
])("%s against %s", (value, pattern, expected) => {
  expect(queryMatches(value, pattern)).toBe(expected);
});

const share = { svm: { uuid: "u1", name: "vs1" }, name: "s1", path: "/p", acls: [{ permission: "read" }] };
test.each([
  ["no fields: all", undefined, share],
  ["*: all", "*", share],
  ["keys and one field", "path", { svm: share.svm, name: "s1", path: "/p" }],
  ["a dotted field keeps that part", "svm.uuid,acls", { svm: share.svm, name: "s1", acls: share.acls }],
  ["an unknown field is left out", "nope", { svm: share.svm, name: "s1" }],
])("fields=: %s", (_what, fields, expected) => {
  expect(projectFields(share, fields, ["svm", "name"])).toEqual(expected);
});

test("a dotted field of a non-key object keeps only what was asked", () => {
  const vol = { uuid: "v", name: "vol1", nas: { path: "/j", security_style: "ntfs" }, style: "flexvol" };
  expect(projectFields(vol, "nas.path", ["uuid", "name"])).toEqual({ uuid: "v", name: "vol1", nas: { path: "/j" } });
});

describe("over HTTPS", () => {
  let dir: string;
  let filer: OntapFiler;
  let agent: Agent;
  let vol: string;
  const get = async (p: string): Promise<{ status: number; body: Record<string, any> }> => {
    const r = await agent.request({
      origin: `https://${filer.fake.address}`,
      path: `/api${p}`,
      method: "GET",
      headers: { authorization: `Basic ${Buffer.from("rvss:fake-ontap-secret").toString("base64")}` },
    });
    return { status: r.statusCode, body: (await r.body.json()) as Record<string, any> };
  };
  const send = async (method: "POST" | "DELETE", p: string, body?: unknown) => {
    const r = await agent.request({
      origin: `https://${filer.fake.address}`,
      path: `/api${p}`,
      method,
      headers: {
        authorization: `Basic ${Buffer.from("rvss:fake-ontap-secret").toString("base64")}`,
        "content-type": "application/json",
      },
      body: body === undefined ? null : JSON.stringify(body),
    });
    return { status: r.statusCode, body: (await r.body.json()) as Record<string, any> };
  };

  beforeAll(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-fake-query-"));
    filer = await startOntapFiler(dir, {
      svms: [
        sampleOntapSvm("vs1", {
          shares: [
            ...sampleOntapSvm("vs1").shares,
            { name: "share2", path: "/hyperv/vm1/dir2" },
            { name: "other", path: "/hyperv/vm1" },
          ],
        }),
        sampleOntapSvm("vs2"),
      ],
    });
    agent = new Agent({ connect: { ca: fs.readFileSync(filer.pki.caFile) } });
    vol = filer.fake.uuidOf("vs1", "vm_vol1");
    const d = path.join(filer.fake.volumeDir("vs1", "vm_vol1"), "dir1");
    await fsp.mkdir(path.join(d, "sub"), { recursive: true });
    await fsp.writeFile(path.join(d, "a.vhdx"), "12345");
    await fsp.writeFile(path.join(d, "b.vhdx"), "1");
  });

  afterAll(async () => {
    await agent.close();
    await filer.stop();
    await fsp.rm(dir, { recursive: true, force: true });
  });

  test("shares by svm.name and name alternatives, with the fields asked for and their keys", async () => {
    const r = await get("/protocols/cifs/shares?svm.name=vs1&name=SHARE1%7Cshare2&fields=path");
    expect(r.body["records"]).toEqual([
      { svm: { uuid: filer.fake.uuidOf("vs1"), name: "vs1" }, name: "share1", path: "/hyperv/vm1/dir1/vmdir" },
      { svm: { uuid: filer.fake.uuidOf("vs1"), name: "vs1" }, name: "share2", path: "/hyperv/vm1/dir2" },
    ]);
    expect((await get("/protocols/cifs/shares?svm.name=vs9&fields=name")).body["num_records"]).toBe(0);
  });

  test("a directory listing takes name and type filters; without size in fields it stats no file", async () => {
    const both = await get(`/storage/volumes/${vol}/files/dir1?name=a.vhdx%7Cb.vhdx&fields=name,size`);
    expect(both.body["records"].map((r: { name: string; size: number }) => [r.name, r.size])).toEqual([
      ["a.vhdx", 5],
      ["b.vhdx", 1],
    ]);
    const dirs = await get(`/storage/volumes/${vol}/files/dir1?type=directory&fields=name,type`);
    expect(dirs.body["records"].map((r: { name: string }) => r.name)).toEqual([".", "..", "sub"]);
    const kinds = await get(`/storage/volumes/${vol}/files/dir1?fields=name,type`);
    expect(kinds.body["records"].every((r: Record<string, unknown>) => !("size" in r))).toBe(true);
  });

  test("the files open in a share, by share.name alternatives", async () => {
    const svm = filer.fake.uuidOf("vs1");
    filer.fake.sessions.push(
      { node: "n1", svm, identifier: 7, connection_id: 91, share: "share1" },
      { node: "n1", svm, identifier: 8, connection_id: 92, share: "other" },
    );
    try {
      const r = await get(
        "/protocols/cifs/session/files?svm.name=vs1&share.name=share1%7Cshare2&fields=session.identifier,share.name",
      );
      expect(r.body["records"].map((f: { session: { identifier: number } }) => f.session.identifier)).toEqual([7]);
      expect((await send("DELETE", `/protocols/cifs/sessions/n1/${svm}/7/91`)).status).toBe(200);
      expect(filer.fake.sessions.map((x) => x.identifier)).toEqual([8]);
    } finally {
      filer.fake.sessions.length = 0;
    }
  });

  test("return_timeout: 201 for a job that succeeded within it, 202 for one that failed or outlasts it", async () => {
    const clone = (to: string, q: string) =>
      send("POST", `/storage/file/clone${q}`, {
        volume: { uuid: vol },
        source_path: "dir1/a.vhdx",
        destination_path: to,
      });
    expect((await clone("dir1/c.vhdx", "?return_timeout=15")).status).toBe(201);
    expect((await clone("dir1/d.vhdx", "")).status).toBe(202);
    // c.vhdx exists: the job fails, and its failure is read from the job.
    const failed = await clone("dir1/c.vhdx", "?return_timeout=15");
    expect(failed.status).toBe(202);
    const job = await get(`/cluster/jobs/${failed.body["job"].uuid}`);
    expect([job.body["state"], job.body["error"]?.code]).toEqual(["failure", "1"]);
  });
});

/**
 * The CLI as a platform engineer meets it: the built `rvss` run as a process against `rvss up`
 * (its own nats-server and the four services), found through the context file in RVSS_HOME. The
 * nats-server refuses anonymous clients: the services, the CLI and a writer log in as themselves.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { connect, type ConnectionOptions } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { natsConnectOptions } from "@rvss/bus";
import {
  SERVICES,
  createSampleFiler,
  freePort,
  removeTree,
  startSecureNats,
  startSqliteWriterProcess,
  type SampleFiler,
} from "@rvss/testkit";
import { CLI, rvss } from "./cli";

let home: string;
let filer: SampleFiler;
let up: ChildProcess;
let upOutput = "";
let grpcAddr: string;
let healthPort: number;
/** Only RVSS_HOME: every command finds the coordinator and NATS through the context file. */
let env: Record<string, string>;

/** What `rvss up` left running: processes whose command line names this RVSS_HOME. */
function processesOf(dir: string): number[] {
  return fs
    .readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return fs.readFileSync(`/proc/${p}/cmdline`, "utf8").includes(dir);
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function until(check: () => boolean, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`${what} did not happen in time:\n${upOutput.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  home = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-cli-"));
  filer = await createSampleFiler(home);
  grpcAddr = `127.0.0.1:${await freePort()}`;
  healthPort = await freePort();
  env = { RVSS_HOME: home, RVSS_GRPC_ADDR: "", NATS_URL: "" };
  up = spawn(process.execPath, [CLI, "up", "--writer", "orders-db=vs1/share1"], {
    env: {
      ...process.env,
      RVSS_HOME: home,
      RVSS_GRPC_ADDR: grpcAddr,
      NATS_URL: "",
      RVSS_FILER_CONFIG: "",
      RVSS_HEALTH_ADDR: `127.0.0.1:${healthPort}`,
      RVSS_LOG_LEVEL: "warn",
      // The tests restore into directories of their home.
      RVSS_RESTORE_ROOTS: home,
      // Clones and restores take a little over a second, so that the progress inside the step shows.
      RVSS_STORAGE_LATENCY: "clone=1200,restore=1200",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  up.stdout!.on("data", (b: Buffer) => (upOutput += b.toString()));
  up.stderr!.on("data", (b: Buffer) => (upOutput += b.toString()));
  await until(() => fs.existsSync(path.join(home, "context.json")) || up.exitCode !== null, "rvss up");
  if (up.exitCode !== null) throw new Error(`rvss up ended: ${upOutput}`);
}, 90_000);

afterAll(async () => {
  if (up && up.exitCode === null) {
    const exited = new Promise((r) => up.once("exit", r));
    up.kill("SIGINT");
    await exited;
  }
  expect(processesOf(home)).toEqual([]);
  await removeTree(home);
}, 60_000);

async function backupOf(file: string): Promise<string> {
  const r = await rvss(["backup", "create", "--svm", "vs1", "--share", "share1", "--file", file, "-o", "json"], env);
  expect([r.code, r.stderr]).toEqual([0, ""]);
  return (JSON.parse(r.stdout) as { id: string }).id;
}

describe("help, version, completion", () => {
  test("every verb prints its own help and exits 0", async () => {
    const script = (await rvss(["completion", "bash"], env)).stdout;
    const verbs = [...script.matchAll(/^ {4}"([a-z ]+)"\) echo/gm)].map((m) => m[1]!);
    expect(verbs).toEqual(expect.arrayContaining(["backup create", "restore", "events tail", "dlq show", "version"]));
    for (const verb of verbs) {
      const r = await rvss([...verb.split(" "), "--help"], env);
      expect([verb, r.code, r.stdout]).toEqual([verb, 0, expect.stringContaining(`Usage: rvss ${verb}`)]);
    }
  }, 120_000);

  test("a typo in a verb or a flag is exit 2 with a suggestion", async () => {
    const verb = await rvss(["backup", "craete"], env);
    expect([verb.code, verb.stderr]).toEqual([2, expect.stringContaining("(Did you mean create?)")]);
    const flag = await rvss(["backup", "create", "--svm", "vs1", "--share", "share1", "--wiat"], env);
    expect([flag.code, flag.stderr]).toEqual([2, expect.stringContaining("(Did you mean --wait?)")]);
  });

  test("rvss version names the client's and the coordinator's versions", async () => {
    const r = await rvss(["version", "-o", "json"], env);
    expect(JSON.parse(r.stdout)).toEqual({
      client: { version: "0.1.0" },
      coordinator: { version: "0.1.0", address: grpcAddr, natsServerVersion: expect.stringMatching(/^2\./) },
    });
  });

  test("the bash completion completes verbs, flags and their values", async () => {
    const script = path.join(home, "completion.bash");
    await fsp.writeFile(script, (await rvss(["completion", "bash"], env)).stdout);
    const complete = (words: string[]): Promise<string> =>
      new Promise((resolve) => {
        const sh = spawn("bash", [
          "-c",
          `source ${script}; COMP_WORDS=(${words.map((w) => `"${w}"`).join(" ")}); COMP_CWORD=${words.length - 1}; _rvss; echo "\${COMPREPLY[*]}"`,
        ]);
        let out = "";
        sh.stdout.on("data", (b: Buffer) => (out += b.toString()));
        sh.on("exit", () => resolve(out.trim()));
      });
    expect(await complete(["rvss", "backup", "cr"])).toBe("create");
    expect(await complete(["rvss", "backup", "list", "-o", ""])).toBe("table wide json yaml");
    expect(await complete(["rvss", "restore", "--over"])).toBe("--overwrite");
  });
});

describe("rvss up and its context", () => {
  test("later commands find rvss up through RVSS_HOME, and up honours RVSS_GRPC_ADDR", async () => {
    const context = JSON.parse(await fsp.readFile(path.join(home, "context.json"), "utf8"));
    expect(context).toEqual({
      grpcAddr,
      natsUrl: expect.stringMatching(/^nats:\/\/127\.0\.0\.1:\d+$/),
      pid: up.pid,
      startedAt: expect.any(String),
      // The admin's certificate rvss up made: later commands call with it.
      client: {
        ca: path.join(home, "pki", "ca.pem"),
        cert: path.join(home, "pki", "admin.pem"),
        key: path.join(home, "pki", "admin.key"),
      },
      // And NATS as the viewer.
      nats: { user: "viewer", passwordFile: path.join(home, "nats-users", "viewer.password") },
    });
    const list = await rvss(["backup", "list"], env);
    expect([list.code, list.stderr]).toEqual([0, ""]);
  });

  test("NATS refuses anonymous clients; each service logs in as itself; the secrets are 0600", async () => {
    const url = JSON.parse(await fsp.readFile(path.join(home, "context.json"), "utf8")).natsUrl as string;
    await expect(connect({ servers: url, timeout: 2_000, reconnect: false })).rejects.toThrow(/Authorization/);
    const children = fs
      .readdirSync("/proc")
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return fs.readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1]!.split(" ")[1] === String(up.pid);
        } catch {
          return false;
        }
      });
    const identities = Object.fromEntries(
      children.flatMap((p) => {
        const service = SERVICES.find((s) => fs.readFileSync(`/proc/${p}/cmdline`, "utf8").includes(`/${s}/dist/`));
        if (!service) return [];
        const env = fs.readFileSync(`/proc/${p}/environ`, "utf8").split("\0");
        return [[service, env.filter((e) => e.startsWith("RVSS_NATS_")).sort()]];
      }),
    );
    const users = path.join(home, "nats-users");
    expect(identities).toEqual(
      Object.fromEntries(
        SERVICES.map((s) => [
          s,
          [
            "RVSS_NATS_CREDS=",
            "RVSS_NATS_INBOX_PREFIX=",
            "RVSS_NATS_NKEY_SEED_FILE=",
            `RVSS_NATS_PASSWORD_FILE=${path.join(users, `${s}.password`)}`,
            "RVSS_NATS_TOKEN_FILE=",
            `RVSS_NATS_USER=${s}`,
          ],
        ]),
      ),
    );
    const mode = (f: string): string => (fs.statSync(f).mode & 0o777).toString(8);
    expect(mode(users)).toBe("700");
    for (const f of fs.readdirSync(users)) expect([f, mode(path.join(users, f))]).toEqual([f, "600"]);
    expect([mode(path.join(home, "context.json")), mode(path.join(home, "nats", "nats.conf"))]).toEqual(["600", "600"]);
  });

  test("a writer named with --writer logs in with the credentials rvss up printed", async () => {
    const printed =
      /Writer orders-db: NATS_URL=(\S+) RVSS_NATS_USER=(\S+) RVSS_NATS_PASSWORD_FILE=(\S+), writer ID orders-db, shares vs1\/share1$/m.exec(
        upOutput,
      );
    expect(printed?.slice(2)).toEqual(["writer-orders-db", path.join(home, "nats-users", "writer-orders-db.password")]);
    const dbs = path.join(home, "orders-db");
    await fsp.mkdir(dbs);
    const writer = await startSqliteWriterProcess({
      natsUrl: printed![1]!,
      svm: "vs1",
      share: "share1",
      dir: dbs,
      databases: ["orders.sqlite"],
      writerId: "orders-db",
      env: { RVSS_NATS_USER: printed![2]!, RVSS_NATS_PASSWORD_FILE: printed![3]! },
    });
    await writer.stop();
  });

  test("rvss up --writer with NATS_URL naming another server is refused before anything starts", async () => {
    const r = await rvss(["up", "--writer", "orders-db"], { RVSS_HOME: home, NATS_URL: "nats://127.0.0.1:1" });
    expect([r.code, r.stderr]).toEqual([
      1,
      "rvss: --writer makes users on rvss up's own nats-server, but NATS_URL names another: add the writers' users there (rvss nats-config --writer)\n",
    ]);
  });

  test("rvss up honours RVSS_HEALTH_ADDR: the coordinator on its port, the other services on the next three", async () => {
    const ready = async (port: number): Promise<number> => (await fetch(`http://127.0.0.1:${port}/readyz`)).status;
    expect(await Promise.all([0, 1, 2, 3].map((i) => ready(healthPort + i)))).toEqual([200, 200, 200, 200]);
    expect(upOutput).toContain(`coordinator http://127.0.0.1:${healthPort}/metrics`);
  });

  test("a second rvss up is refused in one line and leaves nothing running", async () => {
    const before = processesOf(home).sort();
    const second = await rvss(["up"], { RVSS_HOME: home, RVSS_GRPC_ADDR: grpcAddr });
    expect([second.code, second.stdout, second.stderr]).toEqual([
      1,
      "",
      `rvss: rvss up is already running (pid ${up.pid}, gRPC ${grpcAddr}, NATS ${JSON.parse(fs.readFileSync(path.join(home, "context.json"), "utf8")).natsUrl}); stop it first\n`,
    ]);
    expect(processesOf(home).sort()).toEqual(before);

    // Another home, the same gRPC port: refused before its nats-server starts.
    const other = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-cli-other-"));
    try {
      const taken = await rvss(["up"], { RVSS_HOME: other, RVSS_GRPC_ADDR: grpcAddr });
      const port = grpcAddr.split(":")[1];
      expect([taken.code, taken.stderr]).toEqual([
        1,
        `rvss: port ${port} (RVSS_GRPC_ADDR ${grpcAddr}) is in use; another rvss up?\n`,
      ]);
      expect(processesOf(other)).toEqual([]);
    } finally {
      await removeTree(other);
    }
  });
});

describe("output", () => {
  test("-o json is pure JSON with enum names on every data verb, --wait included", async () => {
    const files = ["--file", filer.files[0]!];
    const waited = await rvss(
      ["backup", "create", "--svm", "vs1", "--share", "share1", ...files, "--wait", "-o", "json"],
      env,
    );
    expect(waited.code).toBe(0);
    const b = JSON.parse(waited.stdout);
    expect([b.state, b.sets[0].phase, b.onWriterError]).toEqual([
      "BACKUP_STATE_COMPLETED",
      "BACKUP_SET_PHASE_COMPLETED",
      "WRITER_ERROR_POLICY_FAIL",
    ]);
    // The live timeline went to stderr.
    expect(waited.stderr).toMatch(new RegExp(`^backup ${b.id}\\n {2}\\+\\d+\\.\\d{3}s .*created`));
    expect(waited.stderr).toMatch(/finished: COMPLETED/);
    expect(waited.stderr).toMatch(/\+1\.\d{3}s {2}vs1 +set \w+ +cloning: \d+ file\(s\), .* done, 1 s into the step\n/);

    const id = await backupOf(filer.files[1]!);
    const outputs = {
      describe: await rvss(["backup", "describe", id, "-o", "json"], env),
      list: await rvss(["backup", "list", "-o", "json"], env),
      snapshots: await rvss(["snapshot", "list", "--backup", b.id, "-o", "json"], env),
      validate: await rvss(["validate", "--svm", "vs1", "--share", "share1", "-o", "json"], env),
      dlq: await rvss(["dlq", "list", "-o", "json"], env),
      restore: await rvss(["restore", "--backup", b.id, "--to", path.join(home, "r-json"), "-o", "json"], env),
    };
    const parsed = Object.fromEntries(Object.entries(outputs).map(([k, r]) => [k, [r.code, JSON.parse(r.stdout)]]));
    expect(parsed).toEqual({
      describe: [0, expect.objectContaining({ id, state: expect.stringMatching(/^BACKUP_STATE_/) })],
      list: [
        0,
        { backups: expect.arrayContaining([expect.objectContaining({ id: b.id, state: "BACKUP_STATE_COMPLETED" })]) },
      ],
      snapshots: [0, { snapshots: [expect.objectContaining({ svm: "vs1", volume: "vm_vol1", backupId: b.id })] }],
      validate: [0, expect.objectContaining({ ok: true })],
      dlq: [0, { total: 0, letters: [] }],
      restore: [0, expect.objectContaining({ files: [expect.objectContaining({ path: filer.files[0] })] })],
    });
    // The restore took over a second: its progress went to stderr, stdout stayed one document.
    expect(outputs.restore.stderr).toMatch(
      /\+1\.\ds {2}vs1 +backup +restore \w+: \d+ file\(s\), .* done, 1 s into the step\n/,
    );
  }, 60_000);

  test("YAML is the same document as JSON", async () => {
    const id = await backupOf(filer.files[2]!);
    await rvss(["backup", "create", "--svm", "vs1", "--share", "share1", "--wait"], env);
    const json = JSON.parse((await rvss(["backup", "describe", id, "-o", "json"], env)).stdout);
    const yaml = parseYaml((await rvss(["backup", "describe", id, "-o", "yaml"], env)).stdout);
    expect(yaml).toEqual(json);
  });

  test("tables have headers; IDs are accepted as unique prefixes", async () => {
    const id = await backupOf(filer.files[0]!);
    const list = await rvss(["backup", "list"], env);
    expect(list.stdout).toMatch(/^ID +STATE +CREATED +SHARES\n/);
    const wide = await rvss(["backup", "list", "-o", "wide"], env);
    expect(wide.stdout).toMatch(
      /^ID +STATE +CREATED +SHARES +SETS +FINISHED +DESCRIPTION +NAME +SCHEDULE +EXPIRES +LABELS\n/,
    );
    const described = await rvss(["backup", "describe", id.slice(0, 8), "-o", "json"], env);
    expect(JSON.parse(described.stdout).id).toBe(id);
    const unknown = await rvss(["backup", "describe", "zzzz"], env);
    expect([unknown.code, unknown.stderr]).toEqual([
      1,
      'rvss: backup "zzzz" does not exist (no backup has that ID, name or ID prefix)\n',
    ]);
  });
});

describe("datasets", () => {
  const cases: [string, string, string][] = [
    ["shares.json", '[{"svm": "vs1", "shares": "share1"}]', 'item 1: unknown key "shares"; did you mean "share"?'],
    [
      "file.json",
      '[{"svm": "vs1", "share": "share1", "file": ["vm1/x.vhdx"]}]',
      'item 1: unknown key "file"; did you mean "files"?',
    ],
    [
      "policy.json",
      '{"items": [{"svm": "vs1", "share": "share1"}], "on_writer_eror": "continue"}',
      'unknown key "on_writer_eror"; did you mean "on_writer_error"?',
    ],
    [
      "typo.yaml",
      "- svm: vs1\n  share: share1\n  vms:\n    - nmae: vm1\n",
      'item 1, vm 1: unknown key "nmae"; did you mean "name"?',
    ],
    [
      "type.yaml",
      "- svm: vs1\n  share: share1\n  files: vm1/x.vhdx\n",
      'item 1: "files": expected array, received string',
    ],
    ["missing.json", '[{"svm": "vs1"}]', 'item 1: "share" is missing'],
  ];
  test.each(cases)("%s is refused with exit 2, naming the item and the key", async (name, text, message) => {
    const file = path.join(home, name);
    await fsp.writeFile(file, text);
    for (const verb of [["backup", "create"], ["validate"]]) {
      const r = await rvss([...verb, "--dataset", file], env);
      expect([r.code, r.stderr]).toEqual([2, `rvss: ${file}: ${message}\n`]);
    }
  });

  test("a YAML dataset with on_writer_error is backed up with that policy", async () => {
    const file = path.join(home, "nightly.yaml");
    await fsp.writeFile(
      file,
      `on_writer_error: continue\ndescription: nightly vm1\nitems:\n  - svm: vs1\n    share: share1\n    vms:\n      - name: vm1\n        files: ["${filer.files[0]}"]\n`,
    );
    const r = await rvss(["backup", "create", "--dataset", file, "--wait", "-o", "json"], env);
    expect(r.code).toBe(0);
    const b = JSON.parse(r.stdout);
    expect([b.onWriterError, b.description, b.dataset[0].vms]).toEqual([
      "WRITER_ERROR_POLICY_CONTINUE",
      "nightly vm1",
      [{ name: "vm1", files: [filer.files[0]] }],
    ]);
  });
});

describe("read-only commands", () => {
  /** Every stream's configuration and every durable consumer, as the server reports them. */
  /** Every stream and durable consumer on `url`, read as the provisioner (rvss up's unless `login` says). */
  async function serverState(url: string, login?: Partial<ConnectionOptions>): Promise<string> {
    const provisioner = { user: "provisioner", passwordFile: path.join(home, "nats-users", "provisioner.password") };
    const nc = await connect({ servers: url, ...(login ?? natsConnectOptions(provisioner, "provisioner")) });
    try {
      const jsm = await jetstreamManager(nc);
      const out: unknown[] = [];
      for await (const s of jsm.streams.list()) {
        const durables: unknown[] = [];
        for await (const c of jsm.consumers.list(s.config.name))
          if (c.config.durable_name) durables.push([c.name, c.config]);
        out.push([s.config, durables]);
      }
      return JSON.stringify(out);
    } finally {
      await nc.close();
    }
  }

  /** Runs `events tail` until it printed `lines` lines, then stops it with Ctrl-C. */
  function tail(
    args: string[],
    extra: Record<string, string>,
    lines: number,
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [CLI, "events", "tail", ...args], {
        env: { ...process.env, ...env, ...extra },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      let stopped = false;
      const stopAt = (): void => {
        // Once: a second Ctrl-C ends a process the hard way, as in a terminal.
        if (!stopped && stdout.split("\n").length > lines) stopped = child.kill("SIGINT");
      };
      child.stdout.on("data", (b: Buffer) => ((stdout += b.toString()), stopAt()));
      child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
      child.on("exit", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
  }

  test("events tail leaves every stream and consumer as it was, and prints JSON lines", async () => {
    const url = JSON.parse(await fsp.readFile(path.join(home, "context.json"), "utf8")).natsUrl as string;
    const before = await serverState(url);
    const r = await tail(["--all", "-o", "json"], {}, 3);
    expect(r.code).toBe(0);
    const events = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(events[0]).toEqual(
      expect.objectContaining({ subject: expect.stringMatching(/^rvss\.v1\./), type: expect.any(String) }),
    );
    const dlq = await rvss(["dlq", "list"], env);
    expect(dlq.code).toBe(0);
    expect(await serverState(url)).toBe(before);
  });

  test("against a server rvss never provisioned: the CLI says so and creates nothing", async () => {
    const { nats: empty, users } = await startSecureNats();
    try {
      for (const args of [
        ["events", "tail"],
        ["dlq", "list"],
        ["dlq", "show", "1"],
      ]) {
        const r = await rvss(args, { ...env, NATS_URL: empty.url, ...users.env("viewer") });
        expect([args, r.code, r.stderr]).toEqual([
          args,
          1,
          expect.stringMatching(
            new RegExp(`^rvss: rvss is not provisioned on NATS at ${empty.url} \\(no stream RVSS_`),
          ),
        ]);
      }
      expect(await serverState(empty.url, users.connectOptions("provisioner"))).toBe("[]");
    } finally {
      await empty.dispose();
    }
  });

  test("a refused NATS fails at once and never shows its credentials", async () => {
    const port = await freePort();
    const r = await rvss(["dlq", "list"], { ...env, NATS_URL: `nats://rvss:s3cret@127.0.0.1:${port}` });
    expect([r.code, r.stderr]).toEqual([
      1,
      `rvss: cannot reach NATS at nats://127.0.0.1:${port}: connection refused (set NATS_URL, or start nats-server with JetStream: nats-server -js)\n`,
    ]);
  });

  test("a coordinator that is not there is named without grpc-js internals", async () => {
    const port = await freePort();
    const r = await rvss(["backup", "list"], { ...env, RVSS_GRPC_ADDR: `127.0.0.1:${port}` });
    expect([r.code, r.stderr]).toEqual([
      1,
      `rvss: cannot reach the rvss coordinator at 127.0.0.1:${port} (connection refused); is it running? (rvss up, or set RVSS_GRPC_ADDR)\n`,
    ]);
  });
});

describe("cancel and restore", () => {
  test("cancel of a finished backup says there is nothing to cancel and exits 1", async () => {
    const done = await rvss(["backup", "create", "--svm", "vs1", "--share", "share1", "--wait", "-o", "json"], env);
    const id = JSON.parse(done.stdout).id as string;
    const r = await rvss(["backup", "cancel", id.slice(0, 8)], env);
    expect([r.code, r.stdout, r.stderr]).toEqual([
      1,
      "",
      `rvss: backup ${id} already finished COMPLETED: nothing to cancel\n`,
    ]);
  });

  test("restore refuses to replace a changed file unless --overwrite, into a directory and into the share", async () => {
    const id = JSON.parse(
      (await rvss(["backup", "create", "--svm", "vs1", "--share", "share1", "--wait", "-o", "json"], env)).stdout,
    ).id as string;
    const target = path.join(home, "r-overwrite");
    expect((await rvss(["restore", "--backup", id, "--to", target], env)).code).toBe(0);
    const file = filer.files[0]!;
    await fsp.writeFile(path.join(target, file), "changed after the restore");
    const refused = await rvss(["restore", "--backup", id, "--to", target], env);
    expect([refused.code, refused.stderr]).toEqual([1, expect.stringContaining(`with other contents: "${file}"`)]);
    expect(await fsp.readFile(path.join(target, file), "utf8")).toBe("changed after the restore");
    expect((await rvss(["restore", "--backup", id, "--to", target, "--overwrite"], env)).code).toBe(0);
    expect(await fsp.readFile(path.join(target, file))).toEqual(await fsp.readFile(path.join(filer.shareDir, file)));

    const live = path.join(filer.shareDir, file);
    const original = await fsp.readFile(live);
    await fsp.writeFile(live, "corrupted");
    const intoShare = await rvss(["restore", "--backup", id, "--to-share"], env);
    expect([intoShare.code, intoShare.stderr]).toEqual([1, expect.stringContaining(`"${file}"`)]);
    expect(await fsp.readFile(live, "utf8")).toBe("corrupted");
    expect((await rvss(["restore", "--backup", id, "--to-share", "--overwrite"], env)).code).toBe(0);
    expect(await fsp.readFile(live)).toEqual(original);
  }, 60_000);
});

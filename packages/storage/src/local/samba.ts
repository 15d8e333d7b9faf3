/**
 * A Samba instance whose registry shares (`registry shares = yes`) are an SVM's shares, driven with
 * `net conf` and `smbcontrol` as Samba's own FSRVP server does: an exposed copy is a registry share
 * with the base share's parameters and its own path. Commands run through execFile (no shell).
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { ErrorCodes, RvssError } from "@rvss/core";

const run = promisify(execFile);

/** MS-FSCC 2.1.6: a share name is at most 80 characters and has none of these (nor controls). */
const SHARE_NAME_MAX = 80;
const FORBIDDEN = /["\\/[\]:|<>+=;,*?%\x00-\x1f]/;

/** Refuses a share name SMB cannot carry, naming it, before Samba (which accepts some of them) sees it. */
export function checkShareName(name: string): void {
  if (name.length > SHARE_NAME_MAX)
    throw new RvssError(
      ErrorCodes.INVALID_ARGUMENT,
      `share name "${name}" has ${name.length} characters; SMB allows at most ${SHARE_NAME_MAX}`,
      { share: name },
    );
  const bad = FORBIDDEN.exec(name);
  if (bad)
    throw new RvssError(
      ErrorCodes.INVALID_ARGUMENT,
      `share name "${name}" contains ${JSON.stringify(bad[0])}, which SMB share names may not hold`,
      { share: name },
    );
}

/** Parameters of the base share that the exposed copy does not take over: it has its own. */
const OWN_PARAMETERS = new Set(["path", "comment", "read only", "writeable", "writable", "write ok"]);

export class Samba {
  constructor(
    /** Its smb.conf. */
    readonly config: string,
  ) {}

  private async net(args: string[]): Promise<string> {
    try {
      return (await run("net", ["-s", this.config, "conf", ...args])).stdout;
    } catch (err) {
      throw this.failure(`net conf ${args[0]}`, args[1] ?? "", err);
    }
  }

  private failure(what: string, share: string, err: unknown): RvssError {
    const e = err as { stderr?: string; stdout?: string; message: string };
    const said = (e.stderr || e.stdout || e.message).trim();
    return new RvssError(ErrorCodes.STORAGE_FAILED, `Samba (${this.config}): ${what} "${share}" failed: ${said}`, {
      share,
      path: this.config,
    });
  }

  /** Fails with Samba's own message when no smbd of this configuration answers. */
  async ping(share: string): Promise<void> {
    try {
      await run("smbcontrol", ["-s", this.config, "smbd", "ping"]);
    } catch (err) {
      throw this.failure("smbcontrol smbd ping (is smbd running?) for share", share, err);
    }
  }

  /** A share's parameters as the registry holds them (lower-case names). */
  async parameters(share: string): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const line of (await this.net(["showshare", share])).split("\n")) {
      const m = /^\s+([^=]+?)\s*=\s*(.*)$/.exec(line);
      if (m) out.set(m[1]!.toLowerCase(), m[2]!);
    }
    return out;
  }

  /**
   * Adds `name` for `dir` with the base share's parameters; idempotent. On any failure the share
   * is removed again, so nothing half-made stays in the registry.
   */
  async addShare(name: string, baseShare: string, dir: string, writable: boolean, comment: string): Promise<void> {
    await this.ping(name);
    const base = await this.parameters(baseShare);
    try {
      await this.net(["addshare", name, dir, writable ? "writeable=y" : "writeable=n", "guest_ok=N", comment]);
    } catch (err) {
      if (!/already exists/.test((err as Error).message)) throw err;
      await this.net(["setparm", name, "path", dir]);
    }
    try {
      for (const [key, value] of base) {
        if (OWN_PARAMETERS.has(key)) continue;
        await this.net(["setparm", name, key, value]);
      }
      await this.net(["setparm", name, "read only", writable ? "no" : "yes"]);
    } catch (err) {
      await this.deleteShare(name).catch(() => undefined);
      throw err;
    }
  }

  /** Read-only for new connections, and existing ones are closed so none keeps writing. */
  async makeReadOnly(name: string): Promise<void> {
    await this.net(["setparm", name, "read only", "yes"]);
    await this.closeShare(name);
  }

  async closeShare(name: string): Promise<void> {
    try {
      await run("smbcontrol", ["-s", this.config, "smbd", "close-share", name]);
    } catch (err) {
      throw this.failure("smbcontrol smbd close-share", name, err);
    }
  }

  /** Removes the share and closes its connections; a share already gone is fine. */
  async deleteShare(name: string): Promise<void> {
    try {
      await this.net(["delshare", name]);
    } catch (err) {
      if (!/SBC_ERR_NO_SUCH_SERVICE|No such service/i.test((err as Error).message)) throw err;
    }
    // Connections made before the delete still work until closed; no smbd means none to close.
    await this.closeShare(name).catch(() => undefined);
  }
}

/**
 * The local backend's filer description: a directory that plays SVMs, with volumes mounted at
 * junction paths and shares pointing into them, as on ONTAP.
 *
 * {
 *   "root": "filer",                         // relative to this file; one directory per SVM below it
 *   "svms": [{
 *     "name": "vs1",
 *     "aliases": ["vs1.corp.example"],       // optional: other names requestors use in UNC paths
 *     "shadowCopyDirDepth": 5,               // optional, ONTAP default 5, 0 = unlimited
 *     "volumes": [{ "name": "vm_vol1", "junctionPath": "/hyperv/vm1",
 *                   "cow": "auto" }],         // optional: auto | btrfs | reflink | none (capabilities.ts)
 *     "shares":  [{ "name": "share1", "path": "/hyperv/vm1/dir1/vmdir" }],
 *     "samba": { "config": "/etc/samba/smb.conf" }   // optional: its registry shares are the SVM's shares
 *   }],
 *   "syncSnapshots": true                     // optional, default true: a snapshot is on disk before it is reported
 * }
 *
 * On disk a volume's content is <root>/<svm>/<volume>/.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ErrorCodes, RvssError } from "@rvss/core";
import { COW_MODES, type CowMode } from "./capabilities";
import { svmBackend, type BackendName } from "../ontap/config";

export interface VolumeConfig {
  name: string;
  junctionPath: string;
  cow: CowMode;
}

export interface ShareConfig {
  name: string;
  path: string;
}

export interface SvmConfig {
  name: string;
  /** Other host names requestors may use for the SVM in UNC paths (DNS names, the NetBIOS name). */
  aliases: string[];
  shadowCopyDirDepth: number;
  volumes: VolumeConfig[];
  shares: ShareConfig[];
  /** A Samba instance (its smb.conf, with registry shares = yes) serving the SVM's shares. */
  samba?: { config: string };
}

export interface FilerConfig {
  /** Absolute directory holding one directory per SVM. */
  root: string;
  svms: SvmConfig[];
  /** Flush a snapshot's files to disk before reporting it taken. */
  syncSnapshots: boolean;
}

const namePattern = /^[A-Za-z0-9_][A-Za-z0-9_.$-]*$/;

function bad(file: string, where: string, message: string): RvssError {
  return new RvssError(ErrorCodes.CONFIG_INVALID, `${file}: ${where}: ${message}`, { path: file, field: where });
}

function str(file: string, obj: Record<string, unknown>, key: string, where: string): string {
  const v = obj[key];
  if (typeof v !== "string" || v === "") throw bad(file, `${where}.${key}`, "must be a non-empty string");
  return v;
}

function arr(file: string, obj: Record<string, unknown>, key: string, where: string): Record<string, unknown>[] {
  const v = obj[key];
  if (!Array.isArray(v)) throw bad(file, `${where}.${key}`, "must be an array");
  v.forEach((x, i) => {
    if (typeof x !== "object" || x === null || Array.isArray(x))
      throw bad(file, `${where}.${key}[${i}]`, "must be an object");
  });
  return v as Record<string, unknown>[];
}

function nsPath(file: string, v: string, where: string): string {
  if (!v.startsWith("/")) throw bad(file, where, `"${v}" must be an absolute path in the SVM namespace`);
  const parts = v.split("/").filter((p) => p !== "");
  if (parts.some((p) => p === "." || p === "..")) throw bad(file, where, `"${v}" must not contain "." or ".."`);
  return "/" + parts.join("/");
}

/**
 * Parses and checks a filer description; every error names the file and the field. SVMs of the
 * ontap backend (`"backend": "ontap"`, or every SVM that names none when that is `dflt`) are left
 * to the ontap backend's parser.
 */
export function parseFilerConfig(text: string, file: string, dflt: BackendName = "local"): FilerConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw bad(file, "(file)", `not valid JSON (${(err as Error).message})`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc))
    throw bad(file, "(file)", "must hold a JSON object");
  const d = doc as Record<string, unknown>;
  const root = path.resolve(path.dirname(file), str(file, d, "root", "$"));
  const names = new Set<string>();
  const entries = arr(file, d, "svms", "$").map((s, i) => ({ s, i }));
  const local = entries.filter(({ s, i }) => svmBackend(file, s, `svms[${i}]`, dflt) === "local");
  const svms = local.map(({ s, i }): SvmConfig => {
    const where = `svms[${i}]`;
    const name = str(file, s, "name", where);
    if (!namePattern.test(name)) throw bad(file, `${where}.name`, `"${name}" is not a valid SVM name`);
    if (names.has(name)) throw bad(file, `${where}.name`, `SVM "${name}" is defined twice`);
    names.add(name);
    const aliases = s["aliases"] ?? [];
    if (!Array.isArray(aliases) || aliases.some((a) => typeof a !== "string" || a === ""))
      throw bad(file, `${where}.aliases`, "must be a list of host names");
    const depth = s["shadowCopyDirDepth"] ?? 5;
    if (typeof depth !== "number" || !Number.isInteger(depth) || depth < 0)
      throw bad(file, `${where}.shadowCopyDirDepth`, "must be an integer >= 0");
    const volumes = arr(file, s, "volumes", where).map((v, j): VolumeConfig => {
      const vw = `${where}.volumes[${j}]`;
      const vname = str(file, v, "name", vw);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(vname))
        throw bad(file, `${vw}.name`, `"${vname}" is not a valid volume name`);
      const cow = v["cow"] ?? "auto";
      if (typeof cow !== "string" || !(COW_MODES as readonly string[]).includes(cow))
        throw bad(file, `${vw}.cow`, `must be one of ${COW_MODES.join(", ")}`);
      return {
        name: vname,
        junctionPath: nsPath(file, str(file, v, "junctionPath", vw), `${vw}.junctionPath`),
        cow: cow as CowMode,
      };
    });
    const seenVol = new Set<string>();
    const seenJunction = new Set<string>();
    volumes.forEach((v, j) => {
      if (seenVol.has(v.name)) throw bad(file, `${where}.volumes[${j}].name`, `volume "${v.name}" is defined twice`);
      if (seenJunction.has(v.junctionPath))
        throw bad(file, `${where}.volumes[${j}].junctionPath`, `junction "${v.junctionPath}" is used twice`);
      seenVol.add(v.name);
      seenJunction.add(v.junctionPath);
    });
    const seenShare = new Set<string>();
    const shares = arr(file, s, "shares", where).map((sh, j): ShareConfig => {
      const sw = `${where}.shares[${j}]`;
      const sname = str(file, sh, "name", sw);
      if (!namePattern.test(sname) || sname.includes("@"))
        throw bad(file, `${sw}.name`, `"${sname}" is not a valid share name`);
      if (seenShare.has(sname.toLowerCase())) throw bad(file, `${sw}.name`, `share "${sname}" is defined twice`);
      seenShare.add(sname.toLowerCase());
      const p = nsPath(file, str(file, sh, "path", sw), `${sw}.path`);
      if (!volumes.some((v) => under(p, v.junctionPath)))
        throw bad(file, `${sw}.path`, `"${p}" lies under no volume junction of SVM "${name}"`);
      return { name: sname, path: p };
    });
    const samba = s["samba"];
    const svm = { name, aliases: aliases as string[], shadowCopyDirDepth: depth, volumes, shares };
    if (samba === undefined) return svm;
    if (typeof samba !== "object" || samba === null || Array.isArray(samba))
      throw bad(file, `${where}.samba`, "must be an object");
    const config = path.resolve(
      path.dirname(file),
      str(file, samba as Record<string, unknown>, "config", `${where}.samba`),
    );
    return { ...svm, samba: { config } };
  });
  const syncSnapshots = d["syncSnapshots"] ?? true;
  if (typeof syncSnapshots !== "boolean") throw bad(file, "$.syncSnapshots", "must be true or false");
  return { root, svms, syncSnapshots };
}

/** The filer description's text; an unreadable file is CONFIG_INVALID naming it. */
export function readFilerFile(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new RvssError(ErrorCodes.CONFIG_INVALID, `cannot read filer description ${file}: ${(err as Error).message}`, {
      path: file,
    });
  }
}

export function loadFilerConfig(file: string): FilerConfig {
  return parseFilerConfig(readFilerFile(file), file);
}

/** True when namespace path `p` is `base` or lies below it. */
export function under(p: string, base: string): boolean {
  return base === "/" || p === base || p.startsWith(base + "/");
}

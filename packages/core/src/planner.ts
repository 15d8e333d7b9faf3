/**
 * The backup planner's global view, as pure data: which planned sets are released to their SVMs
 * (at most `limit` at once, across all SVMs and backups) and which wait, released round-robin across
 * backups so a small backup is not stuck behind a large one. Within a backup, sets go in plan order
 * (which interleaves SVMs, see planSets). Per-SVM serialisation stays with each SVM's queue.
 */
import type { BackupLink } from "./fsrvp/types";

export interface PlannedBackup {
  id: string;
  /** Next plan index to release. */
  next: number;
  total: number;
}

export interface PlannerState {
  /** Released and not yet finished: "<backupId>:<index>". */
  running: string[];
  /** Backups with sets not yet finished, in arrival order. */
  backups: PlannedBackup[];
  /** Round-robin position among the backups. */
  turn: number;
}

export function emptyPlanner(): PlannerState {
  return { running: [], backups: [], turn: 0 };
}

export function linkKey(l: BackupLink): string {
  return `${l.backupId}:${l.index}`;
}

function parseKey(key: string): BackupLink {
  const i = key.lastIndexOf(":");
  return { backupId: key.slice(0, i), index: Number(key.slice(i + 1)) };
}

export function isAdmitted(p: PlannerState, backupId: string): boolean {
  return p.backups.some((b) => b.id === backupId);
}

/** A new backup's sets join the plan (idempotent). */
export function admitBackup(p: PlannerState, backupId: string, total: number): PlannerState {
  if (isAdmitted(p, backupId) || total === 0) return p;
  return { ...p, backups: [...p.backups, { id: backupId, next: 0, total }] };
}

/** Releases sets while fewer than `limit` run: one per backup in turn. */
export function releaseSets(p: PlannerState, limit: number): { state: PlannerState; released: BackupLink[] } {
  const state: PlannerState = { running: [...p.running], backups: p.backups.map((b) => ({ ...b })), turn: p.turn };
  const released: BackupLink[] = [];
  for (;;) {
    if (state.running.length >= limit) break;
    const open = state.backups.filter((b) => b.next < b.total);
    if (open.length === 0) break;
    const b = open[state.turn % open.length]!;
    const link = { backupId: b.id, index: b.next };
    b.next += 1;
    state.turn = (state.turn + 1) % Math.max(1, open.length);
    state.running.push(linkKey(link));
    released.push(link);
  }
  return released.length === 0 ? { state: p, released } : { state, released };
}

/** A released set ended; a backup with nothing left to release or run leaves the plan. */
export function finishSet(p: PlannerState, link: BackupLink): PlannerState {
  const key = linkKey(link);
  if (!p.running.includes(key)) return p;
  const running = p.running.filter((k) => k !== key);
  const backups = p.backups.filter((b) => b.next < b.total || running.some((k) => parseKey(k).backupId === b.id));
  return { ...p, running, backups };
}

/** No more sets of this backup are released (cancel); returns the indexes that never were. */
export function withdrawBackup(p: PlannerState, backupId: string): { state: PlannerState; withdrawn: number[] } {
  const b = p.backups.find((x) => x.id === backupId);
  if (!b || b.next >= b.total) return { state: p, withdrawn: [] };
  const withdrawn = Array.from({ length: b.total - b.next }, (_, i) => b.next + i);
  const backups = p.backups
    .map((x) => (x.id === backupId ? { ...x, next: x.total } : x))
    .filter((x) => x.next < x.total || p.running.some((k) => parseKey(k).backupId === x.id));
  return { state: { ...p, backups }, withdrawn };
}

export function isReleased(p: PlannerState, link: BackupLink): boolean {
  const b = p.backups.find((x) => x.id === link.backupId);
  return b ? link.index < b.next : false;
}

/**
 * How many sets will be released before this one (1-based), if it still waits for a global slot;
 * 0 when it is released or unknown.
 */
export function waitingPosition(p: PlannerState, link: BackupLink): number {
  if (!p.backups.some((b) => b.id === link.backupId && link.index >= b.next && link.index < b.total)) return 0;
  const sim = { running: [] as string[], backups: p.backups.map((b) => ({ ...b })), turn: p.turn };
  for (let position = 1; ; position++) {
    const { state, released } = releaseSets(sim, 1);
    if (released.length === 0) return 0;
    if (released[0]!.backupId === link.backupId && released[0]!.index === link.index) return position;
    sim.backups = state.backups;
    sim.turn = state.turn;
  }
}

/**
 * What the process knows about its NATS connection, from the client's status events: the
 * connection may be open while the client reconnects, so `isClosed()` alone says nothing about
 * whether work can be done.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { natsConnected } from "@rvss/runtime";

export interface ConnectionWatch {
  /** Why NATS cannot be used now ("lost NATS at ... "), or null while connected. */
  unready(): string | null;
  /** Calls `listener` after each change between connected and lost; returns how to stop. */
  onChange(listener: () => void): () => void;
}

export function watchConnection(nc: NatsConnection, servers: string): ConnectionWatch {
  let lost: { server: string; since: number } | null = null;
  let closed = false;
  const listeners = new Set<() => void>();
  const changed = (): void => {
    natsConnected.set(lost || closed ? 0 : 1);
    for (const l of listeners) l();
  };
  natsConnected.set(1);
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect" && !lost) lost = { server: s.server, since: Date.now() };
      else if (s.type === "reconnect") lost = null;
      else continue;
      changed();
    }
  })().finally(() => {
    closed = true;
    changed();
  });
  return {
    unready() {
      if (closed || nc.isClosed() || nc.isDraining()) return `the NATS connection to ${servers} is closed`;
      if (!lost) return null;
      const s = Math.round((Date.now() - lost.since) / 1000);
      return `lost NATS at ${lost.server} ${s} s ago (since ${new Date(lost.since).toISOString()}); reconnecting`;
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

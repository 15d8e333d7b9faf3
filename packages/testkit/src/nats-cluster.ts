/**
 * A JetStream cluster of nats-servers on loopback, for tests that lose a node: each node has its own
 * server_name, client port, cluster port and store, with routes to all the others. A secure one
 * serves its clients as `startSecureNats` does: TLS, and `testNatsUsers` only.
 */
import { connect, type ConnectionOptions } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { ErrorCodes, RvssError, errorMessage } from "@rvss/core";
import { NatsServer } from "./nats-server";
import { TESTER, testNatsUsers, type NatsUsers } from "./nats-users";
import { testPki } from "./pki";
import { freePort } from "./ports";

export class NatsCluster {
  private constructor(
    readonly nodes: NatsServer[],
    /** The users clients log in as (a secure cluster), or null: anonymous clients. */
    readonly users: NatsUsers | null,
  ) {}

  /** How this class's own connections log in. */
  private get login(): Partial<ConnectionOptions> {
    return this.users?.connectOptions(TESTER) ?? {};
  }

  /** Every node's client URL, comma-separated (what NATS_URL takes). */
  get url(): string {
    return this.nodes.map((n) => n.url).join(",");
  }

  /**
   * Starts `size` nodes and waits until JetStream has a meta leader (streams can be created);
   * `secure`: TLS and `testNatsUsers` for clients.
   */
  static async start(size = 3, opts: { name?: string; secure?: boolean } = {}): Promise<NatsCluster> {
    const name = opts.name ?? "rvss";
    const pki = opts.secure ? testPki() : null;
    const users = opts.secure ? testNatsUsers() : null;
    const clusterPorts: number[] = [];
    for (let i = 0; i < size; i++) clusterPorts.push(await freePort());
    const routes = clusterPorts.map((p) => `nats-route://127.0.0.1:${p}`).join(", ");
    const nodes = await Promise.all(
      clusterPorts.map((port, i) =>
        NatsServer.start({
          serverName: `${name}-n${i + 1}`,
          config: [
            `cluster { name: ${name}, listen: 127.0.0.1:${port}, routes: [${routes}] }`,
            users?.config ?? "",
          ].join("\n"),
          ...(pki ? { tls: pki.server } : {}),
        }),
      ),
    );
    const cluster = new NatsCluster(nodes, users);
    await cluster.waitForJetStream();
    return cluster;
  }

  /** Resolves once the running nodes have elected a JetStream meta leader. */
  async waitForJetStream(timeoutMs = 30_000): Promise<void> {
    const nc = await connect({ servers: this.nodes.filter((n) => n.running()).map((n) => n.url), ...this.login });
    const end = Date.now() + timeoutMs;
    try {
      for (;;) {
        try {
          await (await jetstreamManager(nc, { timeout: 2_000 })).getAccountInfo();
          return;
        } catch (err) {
          if (Date.now() > end)
            throw new RvssError(
              ErrorCodes.TIMEOUT,
              `the NATS cluster has no JetStream meta leader after ${timeoutMs} ms: ${errorMessage(err)}`,
            );
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    } finally {
      await nc.close();
    }
  }

  /** The node that leads a stream's replicas. */
  async leaderOf(stream: string): Promise<NatsServer> {
    const nc = await connect({ servers: this.nodes.filter((n) => n.running()).map((n) => n.url), ...this.login });
    try {
      const info = await (await jetstreamManager(nc)).streams.info(stream);
      const leader = this.nodes.find((n) => n.serverName === info.cluster?.leader);
      if (!leader)
        throw new RvssError(
          ErrorCodes.INTERNAL,
          `stream ${stream} reports leader "${info.cluster?.leader ?? "none"}", which is not a node of this cluster`,
        );
      return leader;
    } finally {
      await nc.close();
    }
  }

  async dispose(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.dispose()));
  }
}

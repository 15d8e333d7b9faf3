/**
 * The Helm chart renders (real helm: HELM_BIN or helm on PATH; .ci/run installs it) into objects
 * that validate against the Kubernetes, KEDA and Prometheus Operator schemas (kubernetes-models),
 * keep to the restricted Pod Security profile, scale every phase's consumer with KEDA, provision NATS
 * in a Job before the services (which only bind), and take every secret (gRPC certificate and
 * policy, bearer tokens, NATS TLS and passwords) from Secrets. The raw manifests are the chart's
 * output, not a second copy.
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as yaml from "js-yaml";
import { COMMAND_STREAMS, PHASE_CONSUMERS } from "@rvss/core";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { PersistentVolumeClaim } from "kubernetes-models/v1/PersistentVolumeClaim";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { Job } from "kubernetes-models/batch/v1/Job";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";

const root = path.join(__dirname, "..", "..");
const chart = path.join(root, "deploy", "helm", "rvss");
const helm = process.env.HELM_BIN ?? "helm";
const DIGEST = `sha256:${"ab".repeat(32)}`;
/** What every render needs besides the digest: the coordinator's gRPC certificate and policy. */
const REQUIRED = ["--set", "grpc.tls.secret=rvss-grpc-tls", "--set", "grpc.authzPolicy.secret=rvss-authz-policy"];

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string }; spec?: any }; // eslint-disable-line @typescript-eslint/no-explicit-any

const models: Record<string, new (o: any) => { validate(): void }> = {
  // eslint-disable-line @typescript-eslint/no-explicit-any
  "v1/ConfigMap": ConfigMap,
  "v1/PersistentVolumeClaim": PersistentVolumeClaim,
  "v1/Service": Service,
  "v1/ServiceAccount": ServiceAccount,
  "apps/v1/Deployment": Deployment,
  "batch/v1/Job": Job,
  "networking.k8s.io/v1/NetworkPolicy": NetworkPolicy,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "keda.sh/v1alpha1/ScaledObject": ScaledObject,
  "monitoring.coreos.com/v1/PrometheusRule": PrometheusRule,
  "monitoring.coreos.com/v1/ServiceMonitor": ServiceMonitor,
};

function render(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(helm, ["template", "rvss", chart, "--namespace", "rvss", ...args], { encoding: "utf8" });
  if (r.error) throw new Error(`cannot run helm (${helm}): ${r.error.message}; install it or set HELM_BIN`);
  return r;
}

function objects(args: string[] = []): K8sObject[] {
  const r = render(["--set", `image.digest=${DIGEST}`, ...REQUIRED, ...args]);
  expect(r.stderr).toBe("");
  return yaml.loadAll(r.stdout).filter((o): o is K8sObject => o !== null);
}

const byKind = (all: K8sObject[], kind: string): K8sObject[] => all.filter((o) => o.kind === kind);

test("helm lint passes", () => {
  expect(
    execFileSync(helm, ["lint", chart, "--strict", "--set", `image.digest=${DIGEST}`, ...REQUIRED], {
      encoding: "utf8",
    }),
  ).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
});

test("every rendered object validates against its schema", () => {
  const all = objects();
  expect(all.map((o) => o.kind).sort()).toEqual(
    [
      ...Array(3).fill("ConfigMap"),
      ...Array(4).fill("Deployment"),
      "Job",
      ...Array(5).fill("NetworkPolicy"),
      "PersistentVolumeClaim",
      ...Array(4).fill("PodDisruptionBudget"),
      "PrometheusRule",
      ...Array(3).fill("ScaledObject"),
      "Service",
      "Service",
      "ServiceAccount",
      "ServiceMonitor",
    ].sort(),
  );
  for (const o of all) {
    const Model = models[`${o.apiVersion}/${o.kind}`];
    expect(Model).toBeDefined();
    expect(() => new Model!(o).validate()).not.toThrow();
  }
  // The schemas do catch mistakes.
  const broken = byKind(all, "Deployment")[0]!;
  broken.spec.template.spec.containers[0].resources.limits.cpu = { many: true };
  expect(() => new Deployment(broken as never).validate()).toThrow(/limits\/cpu/);
});

test("pods keep to the restricted Pod Security profile, with limits, probes, spread and a PDB", () => {
  const all = objects();
  const pdbs = byKind(all, "PodDisruptionBudget").map((p) => p.metadata.name);
  for (const d of byKind(all, "Deployment")) {
    const pod = d.spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.topologySpreadConstraints.map((t: { topologyKey: string }) => t.topologyKey)).toEqual([
      "kubernetes.io/hostname",
      "topology.kubernetes.io/zone",
    ]);
    for (const c of pod.containers) {
      expect(c.securityContext).toEqual({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        capabilities: { drop: ["ALL"] },
        seccompProfile: { type: "RuntimeDefault" },
      });
      expect(Object.keys(c.resources.requests).sort()).toEqual(["cpu", "memory"]);
      expect(Object.keys(c.resources.limits).sort()).toEqual(["cpu", "memory"]);
      expect(c.startupProbe.httpGet.path).toBe("/healthz");
      expect(c.readinessProbe.httpGet.path).toBe("/readyz");
      expect(c.livenessProbe.httpGet.path).toBe("/healthz");
      expect(c.image).toBe(`ghcr.io/rvss/rvss@${DIGEST}`);
    }
    expect(pdbs).toContain(d.metadata.name);
  }
});

test("KEDA scales every phase's consumer, and no Deployment it owns fixes replicas", () => {
  const all = objects();
  const scaled = byKind(all, "ScaledObject");
  const triggers = scaled.map((s) => s.spec.triggers[0].metadata);
  expect(triggers.map((t) => [t.stream, t.consumer]).sort()).toEqual(
    Object.keys(COMMAND_STREAMS)
      .map((p) => [
        COMMAND_STREAMS[p as keyof typeof COMMAND_STREAMS],
        PHASE_CONSUMERS[p as keyof typeof PHASE_CONSUMERS],
      ])
      .sort(),
  );
  const deployments = new Map(byKind(all, "Deployment").map((d) => [d.metadata.name, d]));
  for (const s of scaled) expect(deployments.get(s.spec.scaleTargetRef.name)!.spec.replicas).toBeUndefined();
  expect(deployments.get("rvss-coordinator")!.spec.replicas).toBe(2);
  // Without KEDA the counts come from the values.
  const fixed = byKind(objects(["--set", "keda.enabled=false"]), "Deployment");
  expect(fixed.map((d) => d.spec.replicas)).toEqual([2, 2, 2, 2]);
});

test("NATS TLS and the client certificate come from a Secret; network, monitoring and rules are in the chart", () => {
  const all = objects(["--set", "nats.tls.secret=rvss-nats-tls"]);
  const executor = byKind(all, "Deployment").find((d) => d.metadata.name === "rvss-snapshot-executor")!;
  const secrets = executor.spec.template.spec.volumes.filter((v: { secret?: unknown }) => v.secret);
  expect(secrets.map((v: { secret: { secretName: string } }) => v.secret.secretName)).toEqual(["rvss-nats-tls"]);
  const env = byKind(all, "ConfigMap").find((c) => c.metadata.name === "rvss")! as unknown as {
    data: Record<string, string>;
  };
  expect(env.data).toMatchObject({
    RVSS_NATS_CA: "/etc/rvss/nats-tls/ca.crt",
    RVSS_NATS_CERT: "/etc/rvss/nats-tls/tls.crt",
    RVSS_NATS_KEY: "/etc/rvss/nats-tls/tls.key",
    RVSS_HEALTH_ADDR: "0.0.0.0:8080",
  });
  expect(byKind(all, "NetworkPolicy").every((n) => n.spec.policyTypes.join() === "Ingress,Egress")).toBe(true);
  const rule = byKind(all, "PrometheusRule")[0]!;
  expect(rule.spec).toEqual(yaml.load(fs.readFileSync(path.join(chart, "files", "prometheus-rules.yaml"), "utf8")));
});

test("each service logs in to NATS as its own user, with only its own password from the Secret", () => {
  const deployments = byKind(objects(["--set", "nats.credentials.secret=rvss-nats-users"]), "Deployment");
  for (const d of deployments) {
    const service = d.metadata.name.replace(/^rvss-/, "");
    const pod = d.spec.template.spec;
    const env = Object.fromEntries(
      (pod.containers[0].env as { name: string; value: string }[]).map((e) => [e.name, e.value]),
    );
    expect([service, env.RVSS_NATS_USER, env.RVSS_NATS_PASSWORD_FILE]).toEqual([
      service,
      service,
      `/etc/rvss/nats-credentials/${service}`,
    ]);
    const volume = pod.volumes.find((v: { name: string }) => v.name === "nats-credentials");
    expect(volume.secret).toEqual({
      secretName: "rvss-nats-users",
      defaultMode: 0o440,
      items: [{ key: service, path: service }],
    });
  }
  expect(deployments.map((d) => d.metadata.name).sort()).toEqual([
    "rvss-auto-recovery-notifier",
    "rvss-coordinator",
    "rvss-share-discovery",
    "rvss-snapshot-executor",
  ]);
});

test("rvss provision runs as a Job before every install and upgrade, as the provisioner; the services only bind", () => {
  const all = objects(["--set", "nats.credentials.secret=rvss-nats-users", "--set", "nats.tls.secret=rvss-nats-tls"]);
  const job = byKind(all, "Job")[0]! as K8sObject & { metadata: { annotations?: Record<string, string> } };
  expect(job.metadata.annotations).toEqual({
    "helm.sh/hook": "pre-install,pre-upgrade",
    "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded",
  });
  const pod = job.spec.template.spec;
  expect([pod.restartPolicy, pod.automountServiceAccountToken]).toEqual(["Never", false]);
  expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
  const c = pod.containers[0];
  expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
  expect(Object.keys(c.resources.limits).sort()).toEqual(["cpu", "memory"]);
  // The CLI's verb, at its path in the image (the repository's layout).
  expect(c.command.slice(2)).toEqual(["provision"]);
  expect(fs.existsSync(path.join(root, c.command[1]))).toBe(true);
  const env = Object.fromEntries((c.env as { name: string; value: string }[]).map((e) => [e.name, e.value]));
  expect([env.RVSS_NATS_USER, env.RVSS_NATS_PASSWORD_FILE]).toEqual([
    "provisioner",
    "/etc/rvss/nats-credentials/provisioner",
  ]);
  expect(pod.volumes.find((v: Volume) => v.name === "nats-credentials").secret.items).toEqual([
    { key: "provisioner", path: "provisioner" },
  ]);
  // The same NATS settings as the services, so it makes the streams they expect; they never make one.
  const config = (byKind(all, "ConfigMap").find((o) => o.metadata.name === "rvss") as unknown as {
    data: Record<string, string>;
  })!.data;
  for (const v of ["NATS_URL", "RVSS_REPLICAS", "RVSS_NATS_CA", "RVSS_NATS_CERT", "RVSS_NATS_KEY"])
    expect([v, env[v]]).toEqual([v, config[v]]);
  expect(config.RVSS_PROVISION).toBe("false");
  const policy = byKind(all, "NetworkPolicy").find((o) => o.metadata.name === "rvss-provision")!;
  expect([policy.spec.podSelector.matchLabels["app.kubernetes.io/component"], policy.spec.ingress]).toEqual([
    "provision",
    undefined,
  ]);
  // Without hooks (the raw manifests) it is a plain Job.
  const plain = byKind(objects(["--set", "provision.hook=false"]), "Job")[0]! as typeof job;
  expect(plain.metadata.annotations).toBeUndefined();
  const raw = yaml.loadAll(
    fs.readFileSync(path.join(root, "deploy", "kubernetes", "rvss.yaml"), "utf8"),
  ) as K8sObject[];
  expect(byKind(raw.filter(Boolean), "Job").map((j) => (j as typeof job).metadata.annotations)).toEqual([undefined]);
});

type Volume = { name: string; secret?: { secretName: string; defaultMode: number; items: { key: string }[] } };
type Container = {
  env: { name: string; value: string }[];
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
};

test("the coordinator's gRPC certificate, key, CA, policy and tokens come from Secrets, mounted read-only", () => {
  const all = objects(["--set", "grpc.tokens.secret=rvss-grpc-tokens"]);
  const deployments = byKind(all, "Deployment");
  const coordinator = deployments.find((d) => d.metadata.name === "rvss-coordinator")!;
  const pod = coordinator.spec.template.spec as { volumes: Volume[]; containers: Container[] };
  const c = pod.containers[0]!;
  const env = Object.fromEntries(c.env.map((e) => [e.name, e.value]));
  // Each file the coordinator is told to read is a key of a Secret, mounted read-only where the variable points.
  const fileOf = (variable: string): [string, string, boolean | undefined] => {
    const file = env[variable]!;
    const mount = c.volumeMounts.find((m) => path.dirname(file) === m.mountPath)!;
    const volume = pod.volumes.find((v) => v.name === mount.name)!;
    expect(volume.secret!.items.map((i) => i.key)).toContain(path.basename(file));
    expect(volume.secret!.defaultMode).toBe(0o440);
    return [volume.secret!.secretName, path.basename(file), mount.readOnly];
  };
  expect(
    [
      "RVSS_GRPC_TLS_CERT",
      "RVSS_GRPC_TLS_KEY",
      "RVSS_GRPC_CLIENT_CA",
      "RVSS_AUTHZ_POLICY",
      "RVSS_GRPC_TOKENS_FILE",
    ].map(fileOf),
  ).toEqual([
    ["rvss-grpc-tls", "tls.crt", true],
    ["rvss-grpc-tls", "tls.key", true],
    ["rvss-grpc-tls", "ca.crt", true],
    ["rvss-authz-policy", "policy.json", true],
    ["rvss-grpc-tokens", "tokens.json", true],
  ]);
  // The token listener has its port, in the Service and in the NetworkPolicy.
  expect(env.RVSS_GRPC_TOKEN_ADDR).toBe("0.0.0.0:50052");
  const service = byKind(all, "Service").find((o) => o.metadata.name === "rvss-coordinator")!;
  expect(service.spec.ports.map((p: { name: string }) => p.name)).toEqual(["grpc", "grpc-token"]);
  const policy = byKind(all, "NetworkPolicy").find((o) => o.metadata.name === "rvss-coordinator")!;
  expect(policy.spec.ingress[1].ports).toEqual([{ port: "grpc" }, { port: "grpc-token" }]);
  // The services that serve no gRPC hold none of it.
  for (const d of deployments.filter((x) => x !== coordinator)) {
    const secrets = (d.spec.template.spec.volumes as Volume[]).filter((v) => v.secret);
    expect([d.metadata.name, secrets]).toEqual([d.metadata.name, []]);
  }
  // Without tokens there is no token listener.
  const plain = byKind(objects(), "Deployment").find((d) => d.metadata.name === "rvss-coordinator")!;
  const names = (plain.spec.template.spec.containers[0] as Container).env.map((e) => e.name);
  expect(names.filter((n) => n.startsWith("RVSS_GRPC_TOKEN"))).toEqual([]);
});

test("the chart refuses to render without the gRPC certificate or the policy, naming the value", () => {
  const base = ["--set", `image.digest=${DIGEST}`];
  expect(render([...base, "--set", "grpc.authzPolicy.secret=p"]).stderr).toMatch(/grpc\.tls\.secret is required/);
  expect(render([...base, "--set", "grpc.tls.secret=t"]).stderr).toMatch(/grpc\.authzPolicy\.secret is required/);
});

test("an image without a digest is refused, naming the value", () => {
  const r = render(REQUIRED);
  expect(r.status).not.toBe(0);
  expect(r.stderr).toMatch(/image\.digest is required/);
  expect(render([...REQUIRED, "--set", "image.digest=latest"]).stderr).toMatch(/image\.digest "latest" is not sha256/);
});

test("deploy/kubernetes/rvss.yaml is what the chart renders (deploy/render-manifests.sh)", () => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "rvss-chart-")), "rvss.yaml");
  execFileSync(path.join(root, "deploy", "render-manifests.sh"), [out], { env: { ...process.env, HELM_BIN: helm } });
  expect(fs.readFileSync(path.join(root, "deploy", "kubernetes", "rvss.yaml"), "utf8")).toBe(
    fs.readFileSync(out, "utf8"),
  );
});

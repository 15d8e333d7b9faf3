#!/usr/bin/env node
import { runService } from "@rvss/runtime";

// The service's modules load once tracing has started, so that gRPC is instrumented as it loads.
void runService("auto-recovery-notifier", async (config, log) =>
  (await import("./index.js")).startAutoRecoveryNotifier(config, log),
);

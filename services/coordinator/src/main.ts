#!/usr/bin/env node
import { runService } from "@rvss/runtime";

// The service's modules load once tracing has started, so that gRPC is instrumented as it loads.
void runService("coordinator", async (config, log) => (await import("./index.js")).startCoordinator(config, log));

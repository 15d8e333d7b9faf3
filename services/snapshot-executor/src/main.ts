#!/usr/bin/env node
import { runService } from "@rvss/runtime";
import { startSnapshotExecutor } from "./index";

void runService("snapshot-executor", (config, log) => startSnapshotExecutor(config, log));

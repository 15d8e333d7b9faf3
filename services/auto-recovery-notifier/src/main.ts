#!/usr/bin/env node
import { runService } from "@rvss/runtime";
import { startAutoRecoveryNotifier } from "./index";

void runService("auto-recovery-notifier", (config, log) => startAutoRecoveryNotifier(config, log));

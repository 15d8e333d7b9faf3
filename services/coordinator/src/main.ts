#!/usr/bin/env node
import { runService } from "@rvss/runtime";
import { startCoordinator } from "./index";

void runService("coordinator", (config, log) => startCoordinator(config, log));

#!/usr/bin/env node
import { runService } from "@rvss/runtime";
import { startShareDiscovery } from "./index";

void runService("share-discovery", (config, log) => startShareDiscovery(config, log));

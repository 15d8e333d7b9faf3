// @rvss/core: the pure core of rvss. State machines, naming and rules; no I/O.
export * from "./errors";
export * from "./naming";
export * from "./file-list";
export * from "./layout";
export * from "./backup";
export * from "./fsrvp";
export * from "./planner";
export * from "./concurrency";

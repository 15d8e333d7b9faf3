// @rvss/runtime: what every rvss process needs: configuration, logging, health, metrics, lifecycle.
export * from "./config";
export * from "./logger";
export * from "./health";
export * from "./metrics";
export * from "./service";
export * from "./tracing";

export * from "./hresult";
export * from "./context";
export * from "./types";
export * from "./server";
export * from "./pipeline";
export * from "./reconcile";

/** One jest run for the whole repository. Cross-package imports resolve to the built dist/ (npm test builds first). */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/packages", "<rootDir>/services", "<rootDir>/test"],
  testMatch: ["**/src/**/*.test.ts", "<rootDir>/test/**/*.test.ts"],
  testPathIgnorePatterns: ["/node_modules/", "/dist/"],
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "<rootDir>/tsconfig.base.json" }] },
  testTimeout: 60_000,
  maxWorkers: 2,
};

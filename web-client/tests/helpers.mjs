// The browser tests' shared code lives in common.mjs; this name is kept
// for the tests that import it.
export * from "./common.mjs";

#!/usr/bin/env node
// Committed launcher so npm can link `rvss` at install time, before dist/ is built.
require("../dist/bin.js");

#!/usr/bin/env node
// Committed launcher so npm can link the command at install time, before dist/ is built.
require("../dist/main.js");

#!/usr/bin/env node
// The `nexus` command of the installed package: the compiled entry, run by plain node.
import "../dist/src/runtime/node/nexus-cli.js";

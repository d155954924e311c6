#!/usr/bin/env node
// The `nexus` command (npx nexus): runs the TypeScript entry through tsx, so
// the command works from a checkout with nothing built.
import { register } from "tsx/esm/api";

register();
await import("../src/runtime/node/nexus-cli.ts");

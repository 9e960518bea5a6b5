#!/usr/bin/env node
// The podfleet CLI. The sources are TypeScript, run as they are through tsx's loader.
import { register } from "tsx/esm/api";

register();
await import("../orchestrator/cli/main.ts");

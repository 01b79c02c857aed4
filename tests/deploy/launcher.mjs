// Writes out what a render pod runs, so check.sh can run it with a stand-in gno-server-rt:
//   node launcher.mjs K8S_DIR OUT_DIR
// OUT_DIR/start.sh: the StatefulSet container's shell script (command: /bin/sh -c SCRIPT);
// OUT_DIR/env.sh:   the ConfigMap's data as `export KEY='value'` lines (what envFrom sets).
// Exit status 0: written; 1: the manifests do not have that shape; 2: usage.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [k8s, out] = process.argv.slice(2);
if (!k8s || !out) {
    console.error("usage: node launcher.mjs K8S_DIR OUT_DIR");
    process.exit(2);
}
const yaml = await import("yaml");
const load = (name) => yaml.parse(readFileSync(join(k8s, name), "utf8"));

const set = load("statefulset.yaml");
const container = set?.spec?.template?.spec?.containers?.[0];
const command = container?.command;
if (!Array.isArray(command) || command.length !== 3 || command[0] !== "/bin/sh" || command[1] !== "-c") {
    console.error("launcher: statefulset.yaml: the container's command is not /bin/sh -c SCRIPT");
    process.exit(1);
}
const data = load("configmap.yaml")?.data;
if (!data || typeof data !== "object") {
    console.error("launcher: configmap.yaml has no data");
    process.exit(1);
}
const quote = (v) => "'" + String(v).replaceAll("'", "'\\''") + "'";
writeFileSync(join(out, "start.sh"), command[2]);
writeFileSync(join(out, "env.sh"),
    Object.entries(data).map(([k, v]) => `export ${k}=${quote(v)}\n`).join(""));

// Validates the Kubernetes manifests of deploy/k8s against the API's own schemas, offline:
// kubernetes-models (the upstream OpenAPI schemas compiled with ajv) for the built-in kinds,
// @kubernetes-models/prometheus-operator (the operator's CRD schemas) for PodMonitor.
//   node validate_k8s.mjs [DIR]     every *.yaml in DIR (default: this checkout's deploy/k8s)
//   node validate_k8s.mjs --self-check
//                                   also proves that broken copies of those manifests fail
// Exit status 0: valid; 1: a problem, printed as FILE: KIND NAME: /json/path message; 2: usage.
//
// Two more checks, each of something the schemas pass:
//  - Unknown fields. The upstream schemas allow any extra property, so a misspelt field
//    (readinesProbe) passes them and would be found only when applied to a cluster. Every
//    object the validator walks is observed through a Proxy: an object whose declared
//    properties the schema looked up, and that it did not enumerate as a map, must have no
//    other keys.
//  - References, which a cluster accepts and then shows only as a node nobody can reach:
//    Services and the PodMonitor must select the StatefulSet's pods (per-node Services one
//    existing ordinal each, every ordinal one Service) and name ports the container has; the
//    StatefulSet's serviceName must be a headless Service here.
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { join, relative, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");

let yaml;
try {
    yaml = await import("yaml");
    await import("kubernetes-models/v1");
} catch {
    console.error("validate_k8s: yaml or kubernetes-models is missing: run npm ci in tests/deploy " +
        "(deploy/setup.sh does)");
    process.exit(2);
}

// Where the models of an apiVersion live; anything else has no schema here and fails.
function modelModule(apiVersion) {
    if (apiVersion.startsWith("monitoring.coreos.com/"))
        return `@kubernetes-models/prometheus-operator/${apiVersion}`;
    return `kubernetes-models/${apiVersion}`;
}

async function modelFor(apiVersion, kind) {
    try {
        const models = await import(modelModule(apiVersion));
        return models[kind];
    } catch {
        return undefined;
    }
}

// A Proxy over the document that records, per object, which keys were looked up and whether it
// was enumerated (how ajv's compiled code walks a map such as labels or ConfigMap data).
function observe(root) {
    const seen = new Map();
    const proxies = new WeakMap();
    const wrap = (value) => {
        if (value === null || typeof value !== "object") return value;
        if (proxies.has(value)) return proxies.get(value);
        const info = { looked_up: new Set(), enumerated: false };
        seen.set(value, info);
        const note = (key) => typeof key === "string" && info.looked_up.add(key);
        const proxy = new Proxy(value, {
            get(target, key) { note(key); return wrap(Reflect.get(target, key)); },
            has(target, key) { note(key); return Reflect.has(target, key); },
            getOwnPropertyDescriptor(target, key) {
                note(key);
                return Reflect.getOwnPropertyDescriptor(target, key);
            },
            ownKeys(target) { info.enumerated = true; return Reflect.ownKeys(target); },
        });
        proxies.set(value, proxy);
        return proxy;
    };
    return { proxy: wrap(root), seen };
}

function unknownFields(value, seen, path, problems) {
    if (value === null || typeof value !== "object") return;
    if (Array.isArray(value)) {
        value.forEach((item, i) => unknownFields(item, seen, `${path}/${i}`, problems));
        return;
    }
    const info = seen.get(value);
    // Not looked into at all: free-form (preserve-unknown-fields), or beneath an error already
    // reported.
    const described = info && !info.enumerated && info.looked_up.size > 0;
    for (const [key, child] of Object.entries(value)) {
        if (described && !info.looked_up.has(key))
            problems.push(`${path}/${key} is not a field of this object (misspelt or misplaced?)`);
        else
            unknownFields(child, seen, `${path}/${key}`, problems);
    }
}

// Schema problems of one parsed document, as "/path message" strings.
async function schemaProblems(doc) {
    if (doc === null || typeof doc !== "object" || Array.isArray(doc))
        return ["the document is not a mapping"];
    const { apiVersion, kind } = doc;
    if (typeof apiVersion !== "string" || typeof kind !== "string")
        return ["apiVersion and kind must be strings"];
    const Model = await modelFor(apiVersion, kind);
    if (!Model)
        return [`no schema for ${apiVersion} ${kind}: a misspelt kind or apiVersion, or a kind ` +
                `validate_k8s.mjs has no models for`];
    const model = new Model(doc);
    const { proxy, seen } = observe(model);
    const problems = [];
    try {
        Model.prototype.validate.call(proxy);
    } catch (e) {
        if (!Array.isArray(e.errors)) throw e;
        for (const err of e.errors) {
            const where = err.instancePath || "/";
            const extra = err.params?.allowedValues ? ` (${err.params.allowedValues.join(", ")})` : "";
            problems.push(`${where} ${err.message}${extra}`);
        }
    }
    unknownFields(model, seen, "", problems);
    return problems;
}

const files = (dir) => readdirSync(dir).filter((f) => /\.ya?ml$/.test(f) && f !== "kustomization.yaml");
const label = (doc) => `${doc?.kind ?? "?"} ${doc?.metadata?.name ?? "?"}`;
const matches = (selector, labels) =>
    Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
const podName = "statefulset.kubernetes.io/pod-name";

// Cross-document problems: [doc, message] pairs.
function referenceProblems(docs) {
    const problems = [];
    const sets = docs.filter((d) => d.kind === "StatefulSet");
    const services = docs.filter((d) => d.kind === "Service");
    const portsOf = (set) => set.spec?.template?.spec?.containers?.flatMap((c) => c.ports ?? []) ?? [];
    const podsOf = (set) => Array.from({ length: set.spec?.replicas ?? 1 },
        (_, i) => ({ ...set.spec?.template?.metadata?.labels, [podName]: `${set.metadata?.name}-${i}` }));
    const selected = (selector) => sets.filter((s) => podsOf(s).some((pod) => matches(selector, pod)));
    const hasPort = (set, port, protocol) => typeof port === "number" ||
        portsOf(set).some((p) => p.name === port && (p.protocol ?? "TCP") === (protocol ?? "TCP"));

    for (const set of sets) {
        const governing = services.find((s) => s.metadata?.name === set.spec?.serviceName);
        if (!governing || governing.spec?.clusterIP !== "None")
            problems.push([set, `/spec/serviceName: no headless Service ${set.spec?.serviceName} here`]);
        for (const c of set.spec?.template?.spec?.containers ?? [])
            for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
                const port = c[probe]?.httpGet?.port;
                if (port !== undefined && !hasPort(set, port, "TCP"))
                    problems.push([set, `${c.name} ${probe}: no TCP container port ${port}`]);
            }
        const ordinals = new Set(services.map((s) => s.spec?.selector?.[podName]).filter(Boolean));
        if (ordinals.size)
            for (const pod of podsOf(set))
                if (!ordinals.has(pod[podName]))
                    problems.push([set, `/spec/replicas: no per-node Service selects ${pod[podName]}`]);
    }
    for (const svc of services) {
        if (!svc.spec?.selector) continue;
        const targets = selected(svc.spec.selector);
        if (!targets.length) {
            problems.push([svc, `/spec/selector selects no pod of a StatefulSet here`]);
            continue;
        }
        (svc.spec.ports ?? []).forEach((p, i) => {
            const port = p.targetPort ?? p.port;
            if (!targets.every((set) => hasPort(set, port, p.protocol)))
                problems.push([svc, `/spec/ports/${i}/targetPort: no ${p.protocol ?? "TCP"} container port ${port}`]);
        });
    }
    for (const mon of docs.filter((d) => d.kind === "PodMonitor")) {
        const targets = selected(mon.spec?.selector?.matchLabels);
        if (!targets.length)
            problems.push([mon, `/spec/selector selects no pod of a StatefulSet here`]);
        (mon.spec?.podMetricsEndpoints ?? []).forEach((e, i) => {
            if (e.port && !targets.every((set) => hasPort(set, e.port, "TCP")))
                problems.push([mon, `/spec/podMetricsEndpoints/${i}/port: no container port ${e.port}`]);
        });
    }
    return problems;
}

// Parses YAML as Kubernetes does (YAML 1.1, as sigs.k8s.io/yaml: 0440 is octal, "on" a bool).
function parse(file, text) {
    const docs = [];
    const problems = [];
    for (const d of yaml.parseAllDocuments(text, { version: "1.1", prettyErrors: true })) {
        for (const err of d.errors) problems.push(`${file}: ${err.message.split("\n")[0]}`);
        if (!d.errors.length && d.contents !== null) docs.push(d.toJS());
    }
    return { docs, problems };
}

// Every problem in the manifests of dir, as printable lines; empty when all is well.
async function validateDir(dir) {
    const problems = [];
    const all = [];
    const names = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
    if (!names.length) return [`${dir}: no manifests`];
    for (const name of names) {
        const rel = relative(process.cwd(), join(dir, name));
        const file = rel.startsWith("..") ? join(dir, name) : rel;
        const { docs, problems: syntax } = parse(file, readFileSync(join(dir, name), "utf8"));
        problems.push(...syntax);
        for (const doc of docs) {
            // kustomize's own file: no API schema, but what it lists must be here.
            if (doc?.kind === "Kustomization") {
                for (const r of doc.resources ?? [])
                    if (!existsSync(join(dir, r))) problems.push(`${file}: resources: ${r} does not exist`);
                continue;
            }
            for (const p of await schemaProblems(doc)) problems.push(`${file}: ${label(doc)}: ${p}`);
            all.push({ file, doc });
        }
    }
    for (const [doc, p] of referenceProblems(all.map((a) => a.doc))) {
        const { file } = all.find((a) => a.doc === doc);
        problems.push(`${file}: ${label(doc)}: ${p}`);
    }
    return problems;
}

// Broken copies of the real manifests, each of which must be refused with the message given.
async function selfCheck(dir) {
    const load = (name) => parse(name, readFileSync(join(dir, name), "utf8")).docs;
    const container = (set) => set.spec.template.spec.containers[0];
    const cases = [
        ["a port number as a string", "statefulset.yaml",
            (d) => { container(d).ports[0].containerPort = "47000"; },
            "/spec/template/spec/containers/0/ports/0/containerPort must be integer"],
        ["a misspelt container field", "statefulset.yaml",
            (d) => { container(d).readinesProbe = container(d).readinessProbe; },
            "/spec/template/spec/containers/0/readinesProbe is not a field"],
        ["capabilities outside securityContext", "statefulset.yaml",
            (d) => { container(d).capabilities = container(d).securityContext.capabilities; },
            "/spec/template/spec/containers/0/capabilities is not a field"],
        ["no selector", "statefulset.yaml",
            (d) => { delete d.spec.selector; },
            "/spec must have required property selector"],
        ["replicas as a string", "statefulset.yaml",
            (d) => { d.spec.replicas = "3"; },
            "/spec/replicas must be integer"],
        ["a protocol that does not exist", "service-headless.yaml",
            (d) => { d.spec.ports[0].protocol = "UPD"; },
            "/spec/ports/0/protocol must be equal to one of the allowed values"],
        ["a number where ConfigMap data holds strings", "configmap.yaml",
            (d) => { d.data.GNO_SERVER_ARGS = 5; },
            "/data/GNO_SERVER_ARGS must be string"],
        ["a misspelt PodMonitor field", "podmonitor.yaml",
            (d) => { d.spec.podMetricsEndpoints[0].intervall = "15s"; },
            "/spec/podMetricsEndpoints/0/intervall is not a field"],
        ["a misspelt kind", "statefulset.yaml",
            (d) => { d.kind = "StatefullSet"; },
            "no schema for apps/v1 StatefullSet"],
    ];
    let failed = 0;
    for (const [what, name, mutate, expected] of cases) {
        const doc = load(name)[0];
        mutate(doc);
        const problems = await schemaProblems(doc);
        const ok = problems.some((p) => p.includes(expected));
        console.log(`${ok ? "refused" : "NOT REFUSED"}: ${what} (${name}): ${problems.join("; ") || "no problem found"}`);
        if (!ok) failed++;
    }
    // Cross-document: a fourth replica without its Service, a Service for a pod that is not there.
    const docs = files(dir).flatMap(load);
    const set = docs.find((d) => d.kind === "StatefulSet");
    set.spec.replicas = 4;
    const svc = docs.find((d) => d.spec?.selector?.[podName] === "gno-render-2");
    svc.spec.selector[podName] = "gno-render-7";
    const refs = referenceProblems(docs).map(([d, p]) => `${label(d)}: ${p}`);
    for (const expected of ["no per-node Service selects gno-render-3",
                            "Service gno-render-2: /spec/selector selects no pod"]) {
        const ok = refs.some((p) => p.includes(expected));
        console.log(`${ok ? "refused" : "NOT REFUSED"}: ${expected}`);
        if (!ok) failed++;
    }
    // YAML itself: a tab-indented line.
    const broken = parse("broken.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: x\n");
    const ok = broken.problems.length > 0;
    console.log(`${ok ? "refused" : "NOT REFUSED"}: a tab in YAML indentation: ${broken.problems.join("; ")}`);
    if (!ok) failed++;
    return failed;
}

const args = process.argv.slice(2);
const self = args.includes("--self-check");
const rest = args.filter((a) => a !== "--self-check");
if (rest.length > 1 || rest.some((a) => a.startsWith("-"))) {
    console.error("usage: node validate_k8s.mjs [--self-check] [DIR]");
    process.exit(2);
}
const dir = rest[0] ?? join(repo, "deploy", "k8s");
const problems = await validateDir(dir);
for (const p of problems) console.error(p);
if (problems.length) {
    console.error(`validate_k8s: ${problems.length} problem(s) in ${dir}`);
    process.exit(1);
}
console.log(`validate_k8s: ${files(dir).length} manifests in ${dir} are valid`);
if (self && (await selfCheck(dir)) > 0) {
    console.error("validate_k8s: a broken manifest was accepted");
    process.exit(1);
}

#!/usr/bin/env node
// Validates the custom resources in rendered manifests (Argo CD, External Secrets, prometheus-operator)
// against their CRD schemas, as shipped by the pinned npm packages kubernetes-models, @kubernetes-models/argo-cd,
// @kubernetes-models/external-secrets and @kubernetes-models/prometheus-operator, and those no package ships
// (Sigstore policy-controller) against the schemas copied into tools/crds/. Core kinds are kubernetes-validate's job.
//
// Usage: node tools/validate-crds.mjs FILE... (multi-document YAML). Exits 1 on any finding.
//
// Strictness: CRD schemas rarely forbid unknown fields, and the API server silently prunes them, so a
// typo such as `selfheal: true` would pass a plain schema check and then do nothing. The compiled
// validators read every property their schema knows, so each object is wrapped in a Proxy that records
// which keys the validator read; a key it never read is unknown to the schema and reported. Objects the
// validator treats as free-form maps (it enumerates their keys) or never looks into are not judged.
import { readdirSync, readFileSync } from "node:fs";
import Ajv from "ajv";
import { parseAllDocuments } from "yaml";
import { AppProject, Application } from "@kubernetes-models/argo-cd/argoproj.io/v1alpha1";
import {
  ClusterSecretStore,
  ExternalSecret,
  SecretStore,
} from "@kubernetes-models/external-secrets/external-secrets.io/v1";
import { PrometheusRule, ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import { AlertmanagerConfig } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1alpha1";

const MODELS = {
  "argoproj.io/v1alpha1": { Application, AppProject },
  "external-secrets.io/v1": { ExternalSecret, ClusterSecretStore, SecretStore },
  "monitoring.coreos.com/v1": { PrometheusRule, ServiceMonitor },
  "monitoring.coreos.com/v1alpha1": { AlertmanagerConfig },
};
// CRDs no kubernetes-models package ships: their openAPIV3Schema, copied from the pinned chart into
// tools/crds/ (each file names its source). Strict too: an object schema that lists its properties and
// does not preserve unknown fields gets additionalProperties: false, so a misspelt key is a finding.
const VENDORED = Object.fromEntries(
  readdirSync(new URL("crds/", import.meta.url))
    .filter((f) => f.endsWith(".json"))
    .map((f) => JSON.parse(readFileSync(new URL(`crds/${f}`, import.meta.url), "utf8")))
    .map((crd) => [`${crd.group}/${crd.version} ${crd.kind}`, compileVendored(crd.schema)]),
);
const CRD_GROUPS = new Set([
  ...Object.keys(MODELS).map((v) => v.split("/")[0]),
  ...Object.keys(VENDORED).map((k) => k.split("/")[0]),
]);

/** An Ajv validator for a whole object (apiVersion, kind, metadata) whose spec follows `schema`. */
function compileVendored(schema) {
  const strict = (node) => {
    if (Array.isArray(node)) return node.map(strict);
    if (node === null || typeof node !== "object") return node;
    const out = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, strict(v)]));
    if (out.properties && out.additionalProperties === undefined && !out["x-kubernetes-preserve-unknown-fields"]) {
      out.additionalProperties = false;
    }
    return out;
  };
  const whole = strict(schema);
  whole.properties = {
    apiVersion: { type: "string" },
    kind: { type: "string" },
    metadata: { type: "object" },
    ...whole.properties,
  };
  return new Ajv({ allErrors: true, strict: false, validateFormats: false }).compile(whole);
}
// Properties the compiled validators never read although the CRD declares them: the generator drops a
// property called `description` (a JSON Schema keyword), e.g. AppProject's spec.description.
const NEVER_READ = new Set(["description"]);

/** True for apiVersions whose schemas kubernetes-validate ships (core and *.k8s.io groups). */
function isCore(apiVersion) {
  const group = apiVersion.includes("/") ? apiVersion.split("/")[0] : "";
  return group === "" || !group.includes(".") || group.endsWith(".k8s.io");
}

/** Wraps `value` so that reads by the validator are recorded per object path. */
function track(value, path, seen) {
  if (value === null || typeof value !== "object") return value;
  const record = { read: new Set(), enumerated: false, keys: Object.keys(value), value };
  seen.set(path, record);
  const children = new Map();
  return new Proxy(value, {
    get(target, key, receiver) {
      if (typeof key !== "string") return Reflect.get(target, key, receiver);
      record.read.add(key);
      if (!Object.hasOwn(target, key)) return Reflect.get(target, key, receiver);
      if (!children.has(key)) {
        const child = Array.isArray(target) ? `${path}[${key}]` : `${path}.${key}`;
        children.set(key, track(target[key], child, seen));
      }
      return children.get(key);
    },
    ownKeys(target) {
      record.enumerated = true;
      return Reflect.ownKeys(target);
    },
  });
}

/** Returns the findings for one document (empty when valid). */
function validate(doc) {
  const { apiVersion, kind } = doc;
  const vendored = VENDORED[`${apiVersion} ${kind}`];
  if (vendored) {
    return vendored(doc)
      ? []
      : vendored.errors.map((e) => `${e.instancePath || "/"} ${e.message}${e.params?.additionalProperty ? `: ${e.params.additionalProperty}` : ""}`);
  }
  const Model = MODELS[apiVersion]?.[kind];
  if (!Model) return [`no CRD schema for ${apiVersion} ${kind}`];
  const findings = [];
  const seen = new Map();
  try {
    Model.prototype.validate.call(track(doc, "", seen));
  } catch (err) {
    findings.push(err.message);
  }
  for (const [path, rec] of seen) {
    if (Array.isArray(rec.value) || rec.enumerated || rec.read.size === 0) continue;
    for (const key of rec.keys) {
      if (NEVER_READ.has(key) && typeof rec.value[key] === "string") continue;
      if (!rec.read.has(key)) findings.push(`unknown field ${path}.${key}`);
    }
  }
  return findings;
}

let failed = false;
let checked = 0;
for (const file of process.argv.slice(2)) {
  for (const parsed of parseAllDocuments(readFileSync(file, "utf8"))) {
    if (parsed.errors.length) {
      console.error(`${file}: YAML error: ${parsed.errors[0].message}`);
      failed = true;
      continue;
    }
    const doc = parsed.toJS();
    if (!doc || typeof doc !== "object") continue;
    const apiVersion = String(doc.apiVersion ?? "");
    if (isCore(apiVersion) && !CRD_GROUPS.has(apiVersion.split("/")[0])) continue;
    checked += 1;
    const name = `${doc.kind}/${doc.metadata?.name ?? "?"}`;
    for (const finding of validate(doc)) {
      console.error(`${file}: ${name}: ${finding}`);
      failed = true;
    }
  }
}
if (checked === 0 && !failed) console.error("validate-crds: note: no custom resources in the input");
process.exit(failed ? 1 : 0);

/**
 * Writes docs/api.md, the API reference, from the contract itself: the comments
 * and annotations of proto/nexus/**, as `buf build` compiles them (with source
 * info), plus the error reasons of src/shared/connect-errors.ts. Nothing in the
 * reference is typed by hand, so it cannot drift from what the servers serve.
 *
 *   npx tsx scripts/api-reference.ts              write docs/api.md
 *   npx tsx scripts/api-reference.ts --check      exit 1 when docs/api.md is stale
 *   npx tsx scripts/api-reference.ts --out FILE   write (or --check) FILE instead
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createFileRegistry, fromBinary, getOption, hasOption, ScalarType } from "@bufbuild/protobuf";
import type { DescEnum, DescEnumValue, DescField, DescFile, DescMessage, DescMethod, DescService, FileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema, MethodOptions_IdempotencyLevel, type SourceCodeInfo_Location } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { codeToHttpStatus, codeToString } from "@connectrpc/connect/protocol-connect";
import { http } from "../gen/google/api/annotations_pb.ts";
import { field_behavior, FieldBehaviorSchema } from "../gen/google/api/field_behavior_pb.ts";
import type { HttpRule } from "../gen/google/api/http_pb.ts";
import { input_rule, InputRule, InputRuleSchema } from "../gen/nexus/common/v1/input_rules_pb.ts";
import { codeForReason, errorDomain, httpStatusFor, oauthErrorFor, withReason } from "../src/shared/connect-errors.ts";
import { errorReasons } from "../src/shared/errors.ts";

const root = fileURLToPath(new URL("../", import.meta.url));

/** Gateway first (what agents use), then the Broker's services; any other service follows in name order. */
const serviceOrder = ["GatewayService", "ProviderService", "ConnectionService", "AuditService", "AuthorizationService"];

/** Well-known types are documented by protobuf; say how each looks in JSON instead of linking. */
const wellKnown: Record<string, string> = {
  "google.protobuf.Timestamp": "Timestamp (RFC 3339)",
  "google.protobuf.Struct": "Struct (JSON object)",
  "google.protobuf.Value": "Value (any JSON)",
  "google.protobuf.FieldMask": "FieldMask (JSON: comma-separated lowerCamelCase paths)",
  "google.protobuf.Duration": "Duration (JSON: seconds, for example `1.5s`)",
};

type Commented = DescService | DescMethod | DescMessage | DescField | DescEnum | DescEnumValue;

function loadContract(): FileRegistry {
  const dir = mkdtempSync(join(tmpdir(), "nexus-api-reference-"));
  try {
    const image = join(dir, "image.binpb");
    // A plain FileDescriptorSet (not a buf image) keeps source info, which holds the comments.
    execFileSync("npx", ["--no-install", "buf", "build", "--as-file-descriptor-set", "-o", image], { cwd: root, stdio: "pipe" });
    return createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(image)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The element's path in source_code_info, as descriptor.proto numbers the fields that hold it. */
function sourcePath(d: Commented): number[] {
  switch (d.kind) {
    case "service": return [6, d.file.proto.service.indexOf(d.proto)];
    case "rpc": return [...sourcePath(d.parent), 2, d.parent.proto.method.indexOf(d.proto)];
    case "message":
      return d.parent ? [...sourcePath(d.parent), 3, d.parent.proto.nestedType.indexOf(d.proto)] : [4, d.file.proto.messageType.indexOf(d.proto)];
    case "enum":
      return d.parent ? [...sourcePath(d.parent), 4, d.parent.proto.enumType.indexOf(d.proto)] : [5, d.file.proto.enumType.indexOf(d.proto)];
    case "field": return [...sourcePath(d.parent), 2, d.parent.proto.field.indexOf(d.proto)];
    case "enum_value": return [...sourcePath(d.parent), 2, d.parent.proto.value.indexOf(d.proto)];
  }
}

const locations = new Map<DescFile, Map<string, SourceCodeInfo_Location>>();

/** The element's comment as written, minus the one space protoc keeps after `//` (so indented markdown survives). */
function comment(d: Commented): string {
  const file = "file" in d ? d.file : d.parent.file;
  if (!locations.has(file)) locations.set(file, new Map((file.proto.sourceCodeInfo?.location ?? []).map((l) => [l.path.join("."), l])));
  const location = locations.get(file)?.get(sourcePath(d).join("."));
  return (location?.leadingComments || location?.trailingComments || "").replace(/^ /gm, "").trim();
}

/** A comment inside a table cell: one line, paragraphs kept apart, and `|` escaped so it does not split the row. */
function cell(text: string): string {
  return text.split(/\n\s*\n/).map((p) => p.replace(/\s*\n\s*/g, " ")).join("<br><br>").replace(/\|/g, "\\|");
}

const anchor = (typeName: string) => typeName.toLowerCase().replace(/\./g, "-");
const scalar = (s: ScalarType) => ScalarType[s].toLowerCase();
const ref = (d: DescMessage | DescEnum) =>
  wellKnown[d.typeName] ?? (d.typeName.startsWith("google.protobuf.") ? d.name : `[${d.name}](#${anchor(d.typeName)})`);

/** The JSON shape of scalars that a hand-written client would otherwise get wrong. */
function jsonHint(s: ScalarType | undefined): string {
  const longs: (ScalarType | undefined)[] = [ScalarType.INT64, ScalarType.UINT64, ScalarType.SINT64, ScalarType.FIXED64, ScalarType.SFIXED64];
  return s === ScalarType.BYTES ? " (base64)" : longs.includes(s) ? " (JSON string)" : "";
}

function typeCell(f: DescField): string {
  const element = f.message ? ref(f.message) : f.enum ? ref(f.enum) : f.scalar === undefined ? "?" : scalar(f.scalar);
  const prefix = f.fieldKind === "list" ? "repeated " : f.proto.proto3Optional ? "optional " : "";
  if (f.fieldKind === "map") {
    return f.scalar === undefined ? `map\\<${scalar(f.mapKey)}, ${element}>` : `\`map<${scalar(f.mapKey)}, ${element}>\`${jsonHint(f.scalar)}`;
  }
  return f.scalar === undefined ? prefix + element : `\`${prefix}${element}\`${jsonHint(f.scalar)}`;
}

/**
 * google.api.field_behavior as words ("required", "output only", "input only", ...; getOption gives [] when unset),
 * then the field's input rule, linked to the rule's description.
 */
function behavior(f: DescField): string {
  const words = getOption(f, field_behavior).map((b) => (FieldBehaviorSchema.value[b]?.name ?? String(b)).toLowerCase().replace(/_/g, " "));
  const rule = getOption(f, input_rule);
  if (rule !== InputRule.UNSPECIFIED) {
    const name = (InputRuleSchema.value[rule]?.name ?? String(rule)).replace(/^INPUT_RULE_/, "").toLowerCase();
    words.push(`rule [${name}](#${anchor(InputRuleSchema.typeName)})`);
  }
  return words.join(", ");
}

function fieldTable(m: DescMessage): string[] {
  if (m.fields.length === 0) return ["No fields: the JSON form is `{}`.", ""];
  const rows = m.fields.map((f) =>
    `| \`${f.name}\` | ${typeCell(f)} | ${behavior(f)} | ${f.deprecated ? "**Deprecated.** " : ""}${cell(comment(f))} |`);
  return ["| Field | Type | Behavior | Description |", "|---|---|---|---|", ...rows, ""];
}

function enumTable(e: DescEnum): string[] {
  const rows = e.values.map((v) => `| \`${v.name}\` | ${v.number} | ${cell(comment(v))} |`);
  return ["| Value | Number | Description |", "|---|---|---|", ...rows, ""];
}

/** A message-level comment goes above its table verbatim (it may hold markdown, like Strategy's table). */
function messageComment(m: DescMessage | DescEnum): string[] {
  const text = comment(m);
  // Vendored google/* comments are written for API designers (proto examples); their first paragraph says what it is.
  const shown = m.typeName.startsWith("nexus.") ? text : text.split(/\n\s*\n/)[0] ?? "";
  // "Request of X." only repeats the heading it sits under.
  return shown === "" || /^(Request|Response) of \w+\.$/.test(shown) ? [] : [shown, ""];
}

function rules(m: DescMethod): HttpRule[] {
  return hasOption(m, http) ? [getOption(m, http), ...getOption(m, http).additionalBindings] : [];
}

function binding({ pattern: p }: HttpRule): string {
  return p.case === undefined ? "" : p.case === "custom" ? `${p.value.kind} ${p.value.path}` : `${p.case.toUpperCase()} ${p.value}`;
}

/** How a REST call maps onto the request and response messages, per google.api.http's rules. */
function restDetails(m: DescMethod, rule: HttpRule): string {
  const inPath = [...binding(rule).matchAll(/\{([^}=]+)/g)].map((x) => x[1] ?? "");
  const list = (names: string[]) => names.map((n) => `\`${n}\``).join(", ");
  const parts = inPath.length > 0 ? [`${list(inPath)} from the path`] : [];
  const rest = m.input.fields.map((f) => f.name).filter((n) => !inPath.some((p) => p.split(".")[0] === n));
  if (rule.body === "*") parts.push(rest.length === 0 ? "no body" : `${inPath.length > 0 ? "the other request fields" : "the request"} as the JSON body`);
  else if (rule.body !== "") parts.push(`the body is the \`${rule.body}\` field`);
  else if (rest.length > 0) parts.push(`query parameter${rest.length > 1 ? "s" : ""} ${list(rest)}`);
  else parts.push("no body");
  const out = rule.responseBody === "" ? undefined : m.output.fields.find((f) => f.name === rule.responseBody);
  if (out?.message?.typeName === "google.api.HttpBody") {
    parts.push(`the response is the \`${out.name}\` field sent raw (${typeCell(out)}: \`data\` is the body, \`content_type\` its Content-Type)`);
  } else if (out !== undefined) {
    parts.push(`the response body is the \`${out.name}\` field (${typeCell(out)}), not the whole response message`);
  }
  return parts.join("; ");
}

/** Connect serves GET only for NO_SIDE_EFFECTS methods, so this also says which HTTP methods Connect accepts. */
const sideEffects: Partial<Record<MethodOptions_IdempotencyLevel, string>> = {
  [MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS]: "**Side-effect free** (`NO_SIDE_EFFECTS`): safe to retry, and also callable with Connect GET.",
  [MethodOptions_IdempotencyLevel.IDEMPOTENT]: "**Idempotent** (`IDEMPOTENT`): safe to retry; Connect POST only.",
};

/** Splits a service comment into the sentences about who may call it (the auth note) and the rest. */
function splitAuth(text: string): { body: string; auth: string } {
  const isAuth = (s: string) => /\b(API key|agent key|need none|needs? no|only credential|authorized by)\b/i.test(s);
  const auth: string[] = [];
  const body = text.split(/\n\s*\n/).map((paragraph) => {
    const sentences = paragraph.replace(/\s*\n\s*/g, " ").split(/(?<=[.!?])\s+(?=[A-Z`(])/);
    if (!sentences.some(isAuth)) return paragraph;
    auth.push(...sentences.filter(isAuth));
    return sentences.filter((s) => !isAuth(s)).join(" ");
  });
  return { body: body.filter((p) => p !== "").join("\n\n"), auth: auth.join(" ") };
}

function errorsSection(): string[] {
  // The HTTP server answers a few reasons itself, with another status: errorResponse("reason", ..., { status: N }).
  // The pattern stays inside the call's parentheses (one level of nesting), so it never takes another call's status.
  const extra = new Map<string, Set<string>>();
  const serverDir = join(root, "src/shared/server");
  for (const name of readdirSync(serverDir).filter((n) => n.endsWith(".ts")).sort()) {
    const text = readFileSync(join(serverDir, name), "utf8");
    for (const [, reason = "", status = ""] of text.matchAll(/\berrorResponse\(\s*"(\w+)",(?:[^()]|\([^()]*\))*?\bstatus:\s*(\d{3})/g)) {
      extra.set(reason, (extra.get(reason) ?? new Set()).add(status));
    }
  }
  // Read from the mapping itself (src/shared/connect-errors.ts), reason by reason.
  const rows = errorReasons.map((reason) => {
    const status = String(httpStatusFor(withReason(reason, "")));
    const others = [...(extra.get(reason) ?? [])].filter((s) => s !== status);
    const oauth = oauthErrorFor(reason);
    return `| \`${reason}\` | \`${codeToString(codeForReason(reason))}\` | ${others.length > 0 ? `${status} (${others.join(", ")})` : status} | \`${oauth.error}\` ${oauth.status} |`;
  });
  return [
    "## Errors",
    "",
    "Every error is Connect's error JSON, `{\"code\": \"<Connect code>\", \"message\": \"<reason>: <text>\", \"details\": [...]}`,",
    "sent with the HTTP status below over REST and Connect: its code's, except where a reason has its own (gRPC and",
    "gRPC-Web carry the same code and details in `grpc-status-details-bin`; payload_too_large stays `resource_exhausted`",
    "there, with no retry hint). The details are the machine-readable part, the same on every protocol:",
    "",
    `- \`google.rpc.ErrorInfo\` (domain \`${errorDomain}\`): \`reason\`, below. The message starts with it too, for people;`,
    "  programs act on the detail, not on the text ([agents-http.md](agents-http.md#errors) says what to do about each);",
    "- `google.rpc.BadRequest`: for input at fault, one field violation with the field's path (`connection_id`,",
    "  `spec.scopes`, `credentials.api_key`) and what is wrong with it;",
    "- `google.rpc.RetryInfo`: when trying again can help, `retry_delay` says how long to wait first.",
    "",
    "REST token exchange (`POST /v1/token-exchange`) answers RFC 6749 error bodies instead, `{\"error\", \"error_description\"}`,",
    "with the OAuth error and HTTP status of the last column (and `Retry-After` when there is a retry hint).",
    "From `src/shared/connect-errors.ts`:",
    "",
    "| Reason | Connect code | HTTP status | Token exchange (REST) |",
    "|---|---|---|---|",
    ...rows,
    "",
    ...(rows.some((r) => r.includes("(")) ? ["A status in parentheses is one the HTTP server (`src/shared/server/`) sends for that reason itself, before any method runs.", ""] : []),
  ];
}

function generate(registry: FileRegistry): string {
  // Code-point order, not localeCompare: the output must not depend on the machine's locale.
  const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const files = [...registry.files].filter((f) => f.name.startsWith("nexus/")).sort((a, b) => byName(a.name, b.name));
  const rank = (s: DescService) => (serviceOrder.includes(s.name) ? serviceOrder.indexOf(s.name) : serviceOrder.length);
  const services = files.flatMap((f) => f.services).sort((a, b) => rank(a) - rank(b) || byName(a.typeName, b.typeName));
  const methods = services.flatMap((s) => s.methods);
  const io = new Set(methods.flatMap((m) => [m.input, m.output]));
  // Shared types: every message or enum a request or response reaches, in order of first use, then any unused nexus type.
  const shared: (DescMessage | DescEnum)[] = [];
  const seen = new Set<DescMessage | DescEnum>();
  const visit = (t: DescMessage | DescEnum | undefined): void => {
    if (t === undefined || t.typeName.startsWith("google.protobuf.") || seen.has(t)) return;
    seen.add(t);
    if (t.kind === "enum" || !io.has(t)) shared.push(t);
    if (t.kind === "message") for (const f of t.fields) visit(f.message ?? f.enum);
  };
  methods.forEach((m) => [m.input, m.output].forEach(visit));
  const nested = (m: DescMessage): (DescMessage | DescEnum)[] => [m, ...m.nestedEnums, ...m.nestedMessages.flatMap(nested)];
  files.flatMap((f) => [...f.enums, ...f.messages.flatMap(nested)]).forEach(visit);

  const out: string[] = [
    "# Nexus API reference",
    "",
    "<!-- Generated by scripts/api-reference.ts from proto/nexus/. Do not edit: change the proto comments and run `make docs`. -->",
    "",
    "Generated from the comments and annotations of `proto/nexus/**/*.proto` by `scripts/api-reference.ts`; do not edit",
    "it by hand. To change it, change the proto files and run `make docs`; `make test` fails while this file is stale.",
    "",
    "Each method is served by its process on one port, over:",
    "",
    "- **gRPC, gRPC-Web and Connect** at its gRPC path. With Connect JSON that is `POST <path>` with",
    "  `Content-Type: application/json` and the request message as the body; side-effect-free methods also accept",
    "  `GET <path>?encoding=json&message=<URL-encoded JSON request>`.",
    "- **REST**, at the HTTP binding from its `google.api.http` annotation. A `{field}` in the path fills the request",
    "  field of that name; the binding says where the other fields go.",
    "",
    "JSON field names are the proto names in the tables below (snake_case); input accepts camelCase too.",
    "",
    "## Contents",
    "",
  ];
  for (const s of services) {
    out.push(`- [${s.name}](#${anchor(s.typeName)})`);
    for (const m of s.methods) out.push(`  - [${m.name}](#${anchor(`${s.typeName}.${m.name}`)}): ${rules(m).map((r) => `\`${binding(r)}\``).join(", ")}`);
  }
  out.push("- [Messages](#messages)", "- [Errors](#errors)", "");

  const placed = new Set<DescMessage>();
  const messageBlock = (label: string, m: DescMessage): string[] => {
    const id = placed.has(m) ? "" : `<a id="${anchor(m.typeName)}"></a>`;
    placed.add(m);
    return [`**${label}** ${id}\`${m.typeName}\``, "", ...messageComment(m), ...fieldTable(m)];
  };
  for (const s of services) {
    const { body, auth } = splitAuth(comment(s));
    if (auth === "") throw new Error(`${s.typeName}: its comment must say who may call it (API key, agent key, or none)`);
    const owner = s.typeName.split(".")[1] ?? "";
    out.push(`## <a id="${anchor(s.typeName)}"></a>${s.name}`, "", `\`${s.typeName}\`, served by the ${owner.charAt(0).toUpperCase()}${owner.slice(1)}.`, "");
    if (body !== "") out.push(body, "");
    out.push(`**Authentication:** ${auth}`, "");
    for (const m of s.methods) {
      out.push(`### <a id="${anchor(`${s.typeName}.${m.name}`)}"></a>${m.name}`, "");
      if (m.deprecated) out.push("**Deprecated.**", "");
      if (comment(m) !== "") out.push(comment(m), "");
      out.push(`- **gRPC path:** \`/${s.typeName}/${m.name}\``);
      if (m.methodKind !== "unary") out.push(`- **Streaming:** ${m.methodKind.replace("_", " ")}`);
      for (const r of rules(m)) out.push(`- **REST:** \`${binding(r)}\`: ${restDetails(m, r)}.`);
      out.push(`- ${sideEffects[m.idempotency] ?? "**Has side effects**: Connect POST only."}`, "", ...messageBlock("Request", m.input), ...messageBlock("Response", m.output));
    }
  }

  out.push("## Messages", "", "Messages and enums that requests and responses use.", "");
  for (const t of shared) {
    out.push(`### <a id="${anchor(t.typeName)}"></a>${t.name}`, "", `\`${t.typeName}\``, "", ...messageComment(t));
    out.push(...(t.kind === "enum" ? enumTable(t) : fieldTable(t)));
  }
  out.push(...errorsSection());
  return `${out.join("\n").trimEnd()}\n`;
}

const args = parseArgs({ options: { check: { type: "boolean", default: false }, out: { type: "string" } } }).values;
const target = resolve(args.out ?? join(root, "docs/api.md"));
// A broken contract or source is not "stale docs": report it plainly, with its own exit code.
const text = (() => {
  try {
    return generate(loadContract());
  } catch (error) {
    process.stderr.write(`scripts/api-reference.ts: ${error instanceof Error ? error.message : String(error)}\n`);
    return process.exit(2);
  }
})();
const shown = relative(process.cwd(), target).startsWith("..") ? target : relative(process.cwd(), target);
if (args.check) {
  const current = existsSync(target) ? readFileSync(target, "utf8") : "";
  if (current !== text) {
    const [a, b] = [current.split("\n"), text.split("\n")];
    let line = 0;
    while (a[line] === b[line]) line++;
    process.stderr.write(`${shown} is stale: it differs from what scripts/api-reference.ts generates from proto/ ` +
      `(first difference at line ${line + 1}). Run \`make docs\` and commit ${shown}.\n`);
    process.exit(1);
  }
  process.stdout.write(`${shown} is up to date\n`);
} else {
  writeFileSync(target, text);
  process.stdout.write(`wrote ${shown}\n`);
}

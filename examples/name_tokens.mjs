// What a flat catalogue costs a client that defers tool schemas (Claude Code, Cursor, Codex
// with tool search): only the tool names load up front. Reads `halo-mcp domains --names` on
// stdin and prints, for every tool and for a domain set (default: the README's flat example),
// the tool count, the bytes of the names one per line, the same with Claude Code's
// `mcp__halo__` prefix, and their tokens in OpenAI's o200k_base encoding (Claude's current
// tokenizer is not public).
//
//   npm install --no-save gpt-tokenizer@4      # in the repository root (node_modules is ignored)
//   cargo run -q -- domains --names | node examples/name_tokens.mjs [tickets,actions,clients]
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const { encode } = require("gpt-tokenizer/cjs/encoding/o200k_base");

const rows = readFileSync(0, "utf8")
  .split("\n")
  .filter((l) => l.includes("\t"))
  .map((l) => l.split("\t"));
const set = (process.argv[2] ?? "tickets,actions,clients").split(",");

function measure(label, names) {
  const bare = names.join("\n");
  const prefixed = names.map((n) => `mcp__halo__${n}`).join("\n");
  console.log(
    `${label}: ${names.length} tools; names ${Buffer.byteLength(bare)} bytes, ` +
      `${encode(bare).length} tokens; as mcp__halo__<name> ${Buffer.byteLength(prefixed)} bytes, ` +
      `${encode(prefixed).length} tokens`,
  );
}

measure("all domains", rows.map(([, n]) => n));
measure(set.join(","), rows.filter(([d]) => set.includes(d)).map(([, n]) => n));

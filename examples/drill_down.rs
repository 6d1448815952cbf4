//! A scripted assistant session: starts `halo-mcp --demo --mode tree` (the real binary, over
//! stdio), drives it with rmcp's MCP client the way an assistant works a ticket, and prints each
//! step as the model would see it: the call, the size of the answer, and the answer itself
//! (shortened). Any failed step stops it with an error, so CI runs it to keep it honest.
//!
//! ```text
//! cargo build --bin halo-mcp --example drill_down && target/debug/examples/drill_down
//! ```
//! (With `--release`, use target/release/examples/drill_down.) Set `FULL=1` to print answers
//! whole.

use std::{process::Stdio, sync::atomic::Ordering, time::Duration};

use anyhow::{Context, ensure};
use halo_mcp::local::LocalClient;
use rmcp::{
    ServiceExt,
    model::{CallToolRequestParams, CallToolResult},
    service::RunningService,
    transport::TokioChildProcess,
};
use serde_json::{Value, json};

mod support;

use support::{binary, group};

type Client = RunningService<rmcp::RoleClient, LocalClient>;

struct Session {
    client: Client,
    handler: LocalClient,
    step: usize,
    bytes: usize,
    full: bool,
}

impl Session {
    /// One tool call, printed as the model sees it. Returns the structured answer.
    async fn call(&mut self, tool: &str, args: Value) -> anyhow::Result<Value> {
        self.step += 1;
        println!("\n── {}. {tool} {args}", self.step);
        let changes = self.handler.list_changed.load(Ordering::SeqCst);
        let mut params = CallToolRequestParams::new(tool.to_owned());
        params.arguments = args.as_object().cloned();
        let result: CallToolResult = self.client.call_tool(params).await?;
        let text = halo_mcp::local::text(&result);
        self.bytes += text.len();
        ensure!(result.is_error != Some(true), "{tool} failed: {text}");
        let mut note = format!(
            "   ← {} bytes (≈{} tokens)",
            group(text.len()),
            group(text.len().div_ceil(4))
        );
        // A navigation changes the tool list: the client is told, and lists again.
        if tool == "halo_navigate" || tool == "halo_back" {
            for _ in 0..50 {
                if self.handler.list_changed.load(Ordering::SeqCst) > changes {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            ensure!(
                self.handler.list_changed.load(Ordering::SeqCst) > changes,
                "no tools/list_changed after {tool}"
            );
            let tools = self.client.list_all_tools().await?;
            let size = serde_json::to_string(&tools)?.len();
            let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
            note.push_str(&format!(
                "; list_changed → now {} tools ({} bytes): {}",
                tools.len(),
                group(size),
                names.join(", ")
            ));
        }
        println!("{note}");
        let shown = if self.full || text.chars().count() <= 700 {
            text.clone()
        } else {
            let cut: String = text.chars().take(700).collect();
            format!("{cut} …")
        };
        for line in shown.lines() {
            println!("   {line}");
        }
        Ok(result
            .structured_content
            .unwrap_or_else(|| serde_json::from_str(&text).unwrap_or(Value::Null)))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut cmd = tokio::process::Command::new(binary()?);
    cmd.args(["--demo", "--mode", "tree"])
        .env("LOG_LEVEL", "warn");
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::inherit())
        .spawn()?;
    let handler = LocalClient::default();
    let client = handler.clone().serve(transport).await?;
    let server = client
        .peer_info()
        .and_then(|i| i.server_info.clone())
        .context("the server sent no initialize result")?;
    let start = client.list_all_tools().await?;
    println!(
        "Connected to {} {} over stdio (demo Halo, tree mode).",
        server.name, server.version
    );
    println!(
        "At start the model sees {} tools ({} bytes): {}",
        start.len(),
        group(serde_json::to_string(&start)?.len()),
        start
            .iter()
            .map(|t| t.name.as_ref())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut s = Session {
        client,
        handler,
        step: 0,
        bytes: 0,
        full: std::env::var("FULL").is_ok_and(|v| v == "1"),
    };

    // "What is open for our biggest client, and what do they pay us?"
    s.call("halo_status", json!({})).await?;
    s.call("halo_navigate", json!({"domain": "tickets"}))
        .await?;
    let open = s
        .call(
            "halo_tickets_list",
            json!({"open_only": true, "page_size": 5, "order": "dateoccurred", "orderdesc": true}),
        )
        .await?;
    let first = open["records"]
        .get(0)
        .context("no open tickets in the demo")?
        .clone();
    let ticket = first["id"].as_i64().context("a ticket without an id")?;
    let overview = s
        .call("halo_tickets_overview", json!({"id": ticket, "actions": 3}))
        .await?;
    let client_id = overview["ticket"]["client_id"]
        .as_i64()
        .or(first["client_id"].as_i64())
        .context("the ticket has no client")?;

    s.call("halo_navigate", json!({"domain": "clients"}))
        .await?;
    s.call("halo_clients_overview", json!({"id": client_id}))
        .await?;
    s.call("halo_navigate", json!({"domain": "assets"})).await?;
    s.call(
        "halo_assets_list",
        json!({"client_id": client_id, "page_size": 5, "fields": ["id", "inventory_number", "key_field", "assettype_name"]}),
    )
    .await?;
    s.call("halo_navigate", json!({"domain": "invoices"}))
        .await?;
    s.call("halo_revenue_breakdown", json!({"client_id": client_id}))
        .await?;

    // A write, then the read that shows it landed.
    s.call("halo_navigate", json!({"domain": "actions"}))
        .await?;
    let note = s
        .call(
            "halo_actions_create",
            json!({"ticket_id": ticket, "note": "Called the customer; waiting on their IT lead.", "outcome": "Private Note", "hiddenfromuser": true}),
        )
        .await?;
    ensure!(
        note.to_string().contains("waiting on their IT lead"),
        "the note did not come back: {note}"
    );
    s.call("halo_navigate", json!({"domain": "tickets"}))
        .await?;
    let after = s
        .call("halo_tickets_overview", json!({"id": ticket, "actions": 1}))
        .await?;
    ensure!(
        after.to_string().contains("waiting on their IT lead"),
        "the new note is not the latest action: {after}"
    );
    s.call("halo_back", json!({})).await?;

    println!(
        "\n{} tool calls; the model read {} bytes of answers (≈{} tokens).",
        s.step,
        group(s.bytes),
        group(s.bytes.div_ceil(4))
    );
    s.client.cancel().await?;
    Ok(())
}

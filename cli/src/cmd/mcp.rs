//! `micro mcp`: the mesh as Model Context Protocol tools, for AI agents.
//!
//! Every endpoint in the registry is a tool named `<service>.<Endpoint>` — go-micro v5's
//! `gateway/mcp` naming, so an agent set up for one works with the other — described by
//! the endpoint's `description` metadata (else "Call E on S service"), with an input schema
//! made from the request shape the service registered (and its `example` metadata).
//! Streaming and subscriber endpoints are not tools (a tool call is one request and one
//! reply). A call goes through the client like `micro call`.
//!
//! `micro mcp serve` speaks MCP's JSON-RPC 2.0 over stdio, one message per line
//! (`initialize`, `ping`, `tools/list`, `tools/call`; notifications are taken and not
//! answered), written here over serde_json: the protocol subset is small, and the Rust SDK
//! (rmcp) would bring its own server framework for four methods. `micro mcp list` prints
//! the tools, `micro mcp test TOOL [JSON]` calls one.
//!
//! With `--auth` (jwt; the store of `--auth_dir`, as `micro api --auth` and `micro server`
//! keep it) every call needs a token of that store — over HTTP `Authorization: Bearer
//! <token>` (else 401), over stdio `--token`/`MICRO_MCP_TOKEN` or, per call, go-micro's
//! `_token` in the tools/call params — and tools/call is checked against the store's rules
//! by the gateway's [`Guard::permit`]: a call outside the token's scopes is an error result
//! (`isError`) naming the rule and the scopes it needs. tools/list shows only the tools the
//! token may call. The store is read when the server starts: tokens and rules made later
//! count from its next start.

mod http;

use crate::cmd::listen::AuthArgs;
use crate::cmd::{print, Failure, Outcome};
use crate::session::{call_options, client_for, Session};
use crate::Opts;
use clap::Subcommand;
use micro::registry::{Endpoint, Value};
use micro_gateway::auth::account::Account;
use micro_gateway::auth::Guard;
use serde_json::{json, Map, Value as Json};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;

/// MCP protocol versions this server speaks; the first is offered when the client asks
/// for another.
const PROTOCOL_VERSIONS: &[&str] = &["2024-11-05", "2025-03-26", "2025-06-18"];

/// `micro mcp`'s subcommands.
#[derive(Subcommand, Debug, Clone)]
pub enum McpCmd {
    /// Serve the registry's endpoints as MCP tools: over stdio (JSON-RPC, one message a
    /// line), or with --address over HTTP (POST /mcp; and go-micro's /mcp/tools, /mcp/call).
    Serve {
        /// Listen on HOST:PORT for HTTP instead of stdio (`:3000`: every interface).
        #[arg(long = "mcp_address", visible_alias = "listen", env = "MICRO_MCP_ADDRESS")]
        mcp_address: Option<String>,
        /// Who may call what (default none): `--auth` (jwt) checks every call's token
        /// against the store of --auth_dir, as the gateway does.
        #[command(flatten)]
        auth: AuthArgs,
        /// The token stdio calls are made with when --auth is on (a tools/call's `_token`
        /// param overrides it); over HTTP each request brings its own.
        #[arg(long, env = "MICRO_MCP_TOKEN", value_name = "TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// List the tools: name and description (with --json, as tools/list returns them).
    List {
        /// Print the tools as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Call one tool with JSON arguments (default {}) and print its reply.
    Test {
        /// Tool name, `<service>.<Endpoint>`.
        tool: String,
        /// Arguments JSON; several arguments are joined with spaces.
        args: Vec<String>,
    },
}

/// One tool: an endpoint of a service.
#[derive(Debug, Clone)]
pub struct Tool {
    /// `<service>.<Endpoint>`.
    pub name: String,
    /// From the endpoint's `description` metadata.
    pub description: String,
    /// JSON schema of the arguments.
    pub input_schema: Json,
    /// The service.
    pub service: String,
    /// The endpoint.
    pub endpoint: String,
}

impl Tool {
    /// As tools/list lists it.
    pub fn to_json(&self) -> Json {
        json!({"name": self.name, "description": self.description, "inputSchema": self.input_schema})
    }
}

/// A registry type name as a JSON schema type (go-micro's mapping, plus arrays).
fn json_type(kind: &str) -> &'static str {
    match kind.trim_start_matches('*') {
        "string" => "string",
        "int" | "int8" | "int16" | "int32" | "int64" | "uint" | "uint8" | "uint16" | "uint32" | "uint64" => "integer",
        "float32" | "float64" | "double" | "float" => "number",
        "bool" => "boolean",
        k if k.starts_with("[]") => "array",
        _ => "object",
    }
}

/// The schema of a registered value: an object with a property per field.
fn schema(value: Option<&Value>) -> Json {
    let mut props = Map::new();
    for f in value.map(|v| v.values.as_slice()).unwrap_or_default() {
        let mut p = if f.values.is_empty() { json!({"type": json_type(&f.kind)}) } else { schema(Some(f)) };
        if let Some(o) = p.as_object_mut() {
            o.insert("description".into(), json!(format!("{} field", f.name)));
        }
        props.insert(f.name.clone(), p);
    }
    json!({"type": "object", "properties": props})
}

fn is_tool(ep: &Endpoint) -> bool {
    let flag = |k: &str| ep.metadata.get(k).is_some_and(|v| v == "true");
    !flag("stream") && !flag("subscriber") && !ep.name.is_empty()
}

/// The tool of one endpoint of `service`.
pub fn tool(service: &str, ep: &Endpoint) -> Tool {
    let mut input_schema = schema(ep.request.as_ref());
    if let Some(ex) = ep.metadata.get("example").filter(|e| !e.is_empty()) {
        input_schema["examples"] = json!([ex]);
    }
    let description = ep
        .metadata
        .get("description")
        .filter(|d| !d.is_empty())
        .cloned()
        .unwrap_or_else(|| format!("Call {} on {service} service", ep.name));
    Tool {
        name: format!("{service}.{}", ep.name),
        description,
        input_schema,
        service: service.into(),
        endpoint: ep.name.clone(),
    }
}

/// Every tool in the registry, by name.
pub async fn discover(sess: &Session) -> Result<BTreeMap<String, Tool>, Failure> {
    let registry = sess.registry().await?;
    let err = |e: micro::Error| Failure::Failed(format!("{} registry: {}", sess.registry_name, e.detail));
    let mut names: Vec<String> = registry.list_services().await.map_err(err)?.into_iter().map(|s| s.name).collect();
    names.sort();
    names.dedup();
    let mut tools = BTreeMap::new();
    for name in names {
        let Ok(svcs) = registry.get_service(&name).await else { continue };
        // As go-micro: the endpoints of the first version found.
        let Some(svc) = svcs.into_iter().find(|s| !s.endpoints.is_empty()) else { continue };
        for ep in svc.endpoints.iter().filter(|e| is_tool(e)) {
            let t = tool(&name, ep);
            tools.insert(t.name.clone(), t);
        }
    }
    Ok(tools)
}

/// Calls a tool: its arguments as the JSON request; the reply's text, or the error's.
pub async fn call(tool: &Tool, args: &Json, opts: &Opts, sess: &Session) -> Result<String, String> {
    let client = client_for(sess, opts).await.map_err(|f| f.text().to_string())?;
    let body = serde_json::to_vec(args).map_err(|e| e.to_string())?;
    match client.call(&tool.service, &tool.endpoint, body, &call_options(opts)).await {
        Ok(reply) => Ok(String::from_utf8_lossy(&reply.body).trim_end().to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// Runs `micro mcp …`.
pub async fn run(cmd: &McpCmd, opts: &Opts, sess: &Session) -> Outcome {
    match cmd {
        McpCmd::List { json } => {
            let tools = discover(sess).await?;
            if *json {
                let list: Vec<Json> = tools.values().map(Tool::to_json).collect();
                print(&serde_json::to_string_pretty(&json!({"tools": list})).unwrap_or_default());
            } else if tools.is_empty() {
                print(&format!("no tools: no endpoints in the {} registry", sess.registry_name));
            } else {
                for t in tools.values() {
                    print(&format!("{}\t{}", t.name, t.description));
                }
            }
            Ok(())
        }
        McpCmd::Test { tool, args } => {
            let arguments = crate::cmd::json_arg("the arguments", args, "{}")?;
            let arguments: Json = serde_json::from_str(&arguments).map_err(|e| Failure::Usage(e.to_string()))?;
            let tools = discover(sess).await?;
            let t = tools.get(tool).ok_or_else(|| {
                Failure::Failed(format!(
                    "no tool {tool:?}; `micro mcp list` shows the tools\nhint: {}",
                    sess.where_hint()
                ))
            })?;
            match call(t, &arguments, opts, sess).await {
                Ok(text) => {
                    print(&text);
                    Ok(())
                }
                Err(e) => Err(Failure::Failed(format!("error calling {tool}: {e}"))),
            }
        }
        McpCmd::Serve { mcp_address, auth, token } => {
            let guard = auth.guard("micro mcp serve", "none")?;
            let token = token.clone().filter(|t| !t.trim().is_empty());
            // A stdio token that cannot be used is said at once, not on the first call.
            if let (Some(g), Some(t), None) = (&guard, &token, mcp_address.as_ref().or(opts.address.as_ref())) {
                g.account_of(t).map_err(|e| Failure::Usage(format!("micro mcp serve: --token: {}", e.detail)))?;
            }
            // The global --address names the HTTP address, as go-micro's `micro mcp serve --address`.
            let server = Arc::new(Server {
                opts: Opts { address: None, ..opts.clone() },
                sess: Session::new(opts, false),
                tools: Mutex::new(BTreeMap::new()),
                guard,
                token,
            });
            match mcp_address.clone().or_else(|| opts.address.clone()) {
                Some(a) => http::serve(&a, server).await,
                None => serve(server).await,
            }
        }
    }
}

/// The server's state: its flags, registry and client, and the tools last discovered.
pub struct Server {
    opts: Opts,
    sess: Session,
    tools: Mutex<BTreeMap<String, Tool>>,
    /// The auth store's guard, when --auth is on.
    guard: Option<Arc<Guard>>,
    /// The stdio token (--token, MICRO_MCP_TOKEN).
    token: Option<String>,
}

/// Who is calling, as far as auth goes.
pub enum Caller {
    /// Auth is off: anyone may call anything.
    Anyone,
    /// The account (with the token's scopes) a valid token names.
    Account(Account),
    /// No usable token: why not (go-micro's 401 error JSON).
    Refused(micro::Error),
}

/// A JSON-RPC error object.
fn rpc_error(code: i64, message: &str) -> Json {
    json!({"code": code, "message": message})
}

impl Server {
    /// The caller a token names (`None`: no token was given).
    pub fn caller(&self, token: Option<&str>) -> Caller {
        let Some(guard) = &self.guard else { return Caller::Anyone };
        let Some(token) = token.map(|t| t.trim()).filter(|t| !t.is_empty()) else {
            return Caller::Refused(micro_gateway::auth::unauthorized(
                "no token: auth is on; give --token or MICRO_MCP_TOKEN (stdio), _token in the call's params, or Authorization: Bearer <token> (HTTP)",
            ));
        };
        let token = token.strip_prefix("Bearer ").unwrap_or(token);
        match guard.account_of(token) {
            Ok((acc, _)) => Caller::Account(acc),
            Err(e) => Caller::Refused(e),
        }
    }

    /// Whether `caller` may call `tool`: the gateway's rules, through its guard.
    fn permit(&self, caller: &Caller, tool: &Tool) -> Result<(), micro::Error> {
        match (caller, &self.guard) {
            (Caller::Anyone, _) | (_, None) => Ok(()),
            (Caller::Refused(e), _) => Err(e.clone()),
            (Caller::Account(acc), Some(g)) => g.permit(acc, &tool.service, &tool.endpoint),
        }
    }

    /// The answer to one request: Ok(result) or Err(error object). `caller` is who the
    /// transport says is calling; a tools/call's `_token` param names another.
    async fn handle(&self, method: &str, params: &Json, caller: &Caller) -> Result<Json, Json> {
        match method {
            "initialize" => {
                let asked = params["protocolVersion"].as_str().unwrap_or_default();
                let version = PROTOCOL_VERSIONS.iter().find(|v| **v == asked).unwrap_or(&PROTOCOL_VERSIONS[0]);
                Ok(json!({
                    "protocolVersion": version,
                    "capabilities": {"tools": {"listChanged": false}},
                    "serverInfo": {"name": "micro", "version": env!("CARGO_PKG_VERSION")},
                }))
            }
            "ping" => Ok(json!({})),
            "tools/list" => {
                let tools = discover(&self.sess).await.map_err(|f| rpc_error(-32603, f.text()))?;
                // Only the tools this caller may call.
                let list: Vec<Json> =
                    tools.values().filter(|t| self.permit(caller, t).is_ok()).map(Tool::to_json).collect();
                *self.tools.lock().await = tools;
                Ok(json!({"tools": list}))
            }
            "tools/call" => {
                let name = params["name"].as_str().ok_or_else(|| rpc_error(-32602, "params.name: the tool's name"))?;
                let args = match &params["arguments"] {
                    Json::Null => json!({}),
                    a => a.clone(),
                };
                let tool = self
                    .find(name)
                    .await
                    .map_err(|f| rpc_error(-32603, f.text()))?
                    .ok_or_else(|| rpc_error(-32602, &format!("unknown tool: {name}")))?;
                let own;
                let caller = match params["_token"].as_str() {
                    Some(t) => {
                        own = self.caller(Some(t));
                        &own
                    }
                    None => caller,
                };
                if let Err(e) = self.permit(caller, &tool) {
                    return Ok(json!({"content": [{"type": "text", "text": e.to_string()}], "isError": true}));
                }
                let mut args = args;
                if let Some(o) = args.as_object_mut() {
                    o.remove("_token");
                }
                Ok(match call(&tool, &args, &self.opts, &self.sess).await {
                    Ok(text) => json!({"content": [{"type": "text", "text": text}], "isError": false}),
                    Err(e) => json!({"content": [{"type": "text", "text": e}], "isError": true}),
                })
            }
            other => Err(rpc_error(-32601, &format!("method not found: {other}"))),
        }
    }

    /// The tool called `name`: from the last discovery, else from a new one.
    async fn find(&self, name: &str) -> Result<Option<Tool>, Failure> {
        if let Some(t) = self.tools.lock().await.get(name).cloned() {
            return Ok(Some(t));
        }
        let tools = discover(&self.sess).await?;
        let t = tools.get(name).cloned();
        *self.tools.lock().await = tools;
        Ok(t)
    }

    /// The reply to one JSON-RPC message from `caller`, if it needs one.
    pub async fn line(&self, line: &str, caller: &Caller) -> Option<Json> {
        let msg: Json = match serde_json::from_str(line) {
            Ok(m) => m,
            Err(e) => return Some(json!({"jsonrpc": "2.0", "id": null, "error": rpc_error(-32700, &e.to_string())})),
        };
        let id = msg.get("id").cloned();
        let Some(method) = msg["method"].as_str() else {
            // A response from the client (to nothing we asked) or junk with an id.
            return id.map(|id| json!({"jsonrpc": "2.0", "id": id, "error": rpc_error(-32600, "not a request")}));
        };
        // Notifications (no id) are not answered.
        let id = id?;
        Some(match self.handle(method, &msg["params"], caller).await {
            Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
            Err(error) => json!({"jsonrpc": "2.0", "id": id, "error": error}),
        })
    }
}

/// `micro mcp serve`: JSON-RPC over stdin/stdout until stdin ends.
async fn serve(server: Arc<Server>) -> Outcome {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdout = tokio::io::stdout();
    eprintln!("micro mcp: serving the {} registry's endpoints as tools on stdio", server.sess.registry_name);
    let caller = server.caller(server.token.as_deref());
    while let Ok(Some(line)) = lines.next_line().await {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(reply) = server.line(&line, &caller).await {
            let mut text = reply.to_string();
            text.push('\n');
            if stdout.write_all(text.as_bytes()).await.is_err() || stdout.flush().await.is_err() {
                break;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{schema, tool, Caller, Server};
    use clap::Parser;
    use micro::registry::{Endpoint, Value};
    use micro_gateway::auth::{Guard, GuardOptions};
    use std::collections::BTreeMap;
    use std::sync::Arc;

    #[test]
    fn auth_uses_the_gateways_rules() {
        let dir = std::env::temp_dir().join(format!("micro-mcp-auth-{}", std::process::id()));
        let mut o = GuardOptions::new(&dir);
        o.admin_password = Some("a-long-enough-password".into());
        let guard = Arc::new(Guard::open(o).expect("guard"));
        let admin = guard.accounts().into_iter().find(|a| a.is_admin()).expect("admin");
        guard.set_rule("svc.A.Call", vec!["a".into()]).expect("rule a");
        guard.set_rule("svc.B.Call", vec!["b".into()]).expect("rule b");
        let (_, token) = guard.create_token(&admin, "mcp", vec!["a".into()], None).expect("token");
        let cli = crate::Cli::parse_from(["micro", "--registry", "memory", "mcp", "list"]);
        let server = Server {
            opts: cli.opts.clone(),
            sess: crate::session::Session::new(&cli.opts, false),
            tools: tokio::sync::Mutex::new(BTreeMap::new()),
            guard: Some(guard),
            token: None,
        };
        let ep = |name: &str| Endpoint { name: name.into(), ..Default::default() };
        let (a, b) = (tool("svc", &ep("A.Call")), tool("svc", &ep("B.Call")));
        let caller = server.caller(Some(&format!("Bearer {token}")));
        assert!(matches!(caller, Caller::Account(_)));
        assert!(server.permit(&caller, &a).is_ok());
        let refused = server.permit(&caller, &b).expect_err("outside the token's scopes");
        assert_eq!(refused.code, 403);
        assert!(refused.detail.contains("needs one of [b]"), "{}", refused.detail);
        for t in [None, Some("junk")] {
            let c = server.caller(t);
            assert!(matches!(&c, Caller::Refused(e) if e.code == 401));
            assert!(server.permit(&c, &a).is_err());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn tool_from_endpoint() {
        let mut ep = Endpoint {
            name: "Greeter.Hello".into(),
            request: Some(Value {
                name: "Request".into(),
                kind: "Request".into(),
                values: vec![Value::leaf("name", "string"), Value::leaf("age", "int32")],
            }),
            ..Default::default()
        };
        let t = tool("greeter", &ep);
        assert_eq!(t.name, "greeter.Greeter.Hello");
        assert_eq!(t.description, "Call Greeter.Hello on greeter service");
        assert_eq!(t.input_schema["properties"]["name"]["type"], "string");
        assert_eq!(t.input_schema["properties"]["age"]["type"], "integer");
        ep.metadata.insert("description".into(), "Says hello".into());
        assert_eq!(tool("greeter", &ep).description, "Says hello");
        assert_eq!(schema(None)["type"], "object");
    }
}

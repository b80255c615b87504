// Package wire carries JSON-RPC 2.0 between the hub and a worker over a
// byte stream, framed as MCP's stdio transport: one JSON message per line,
// UTF-8, no newline inside a message. It also holds the MCP layer on top:
// the handshake, tools/list and tools/call as a sandbox.Conn on the hub's
// side and as a Handler on the worker's.
//
// The worker is untrusted, so everything the hub decodes from it is hostile
// input. A line is refused if it is longer than the limit (which also ends
// the stream: the rest is never read), not valid UTF-8, not exactly one JSON
// value, repeats a key in any object, has a member JSON-RPC does not define,
// or is not a well-formed request, notification or response. On the hub's
// Client any refusal, a reply to no pending call and a second reply to one
// call break the connection for every caller (fail closed), except a line
// that is not JSON at all (a server's banner or log line), which is logged
// and skipped; the worker's Server answers a bad line and reads on.
//
// One session, hub on the left, the worker's stdin/stdout on the right:
//
//	hub (Client, NewConn)                              worker (Serve, NewToolServer)
//	  │ ──initialize {protocolVersion, clientInfo}──────────────▶ │
//	  │ ◀──result {protocolVersion, capabilities, serverInfo}──── │
//	  │ ──notifications/initialized─────────────────────────────▶ │
//	  │ ──tools/list {cursor?}──────────────────────────────────▶ │
//	  │ ◀──result {tools: [{name, inputSchema, …}], nextCursor?}─ │  (≤ 1000 tools)
//	  │ ◀──roots/list, ping (answered at once)─────────────────── │
//	  │ ──tools/call {name, arguments, _meta.progressToken}─────▶ │
//	  │ ◀──notifications/progress {progressToken} → Host──────── │
//	  │ ◀──sampling/createMessage, elicitation/create → Host───── │  (only while a call is in flight)
//	  │ ◀──result {content: [text|image|audio|resource|──────────  │
//	  │            resource_link], structuredContent?, isError?}  │
//	  │ ──notifications/cancelled {requestId}───────────────────▶ │  (a call's ctx ended)
//	  │      (close stdin) ─────────────────────────────────────▶ │  EOF: Serve returns
//
// Calls are matched to replies by numeric id and may overlap; the worker
// handles at most Options.MaxConcurrent at once. Of the requests an MCP
// server sends the hub, ping and roots/list (the app's own folder, unless
// Options.NoRoots) are answered by the Client; sampling and elicitation go
// to the Host the hub gave the call in flight (WithCall), at most four at
// once; anything else is answered with -32601 and never acted on. A call's
// CallOptions also say how its result is read: the hub's record of its
// typed content items (ResultText) or its structured content
// (ResultStructured).
package wire

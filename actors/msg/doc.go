// Package msg holds every message that crosses an actor boundary in
// isolategpt, so the protocol can be read in one place.
//
// Commands are imperative (InvokeRequest), events past tense (PlanAccepted),
// request/reply pairs are named …Request/…Reply, and each carries the query
// id. Requests that a client actor sends on behalf of a goroutine carry a
// CallID that the reply echoes.
//
//	front end ──AskRequest──────────▶ hub ──spawn──▶ query actor (one per query)
//	query     ──InvokeRequest───────▶ hub ──InvokeRequest──▶ spoke ──▶ app
//	query     ◀─InvokeReply───────── hub ◀─InvokeReply────── spoke
//	spoke     ──ISCRequest──────────▶ hub: resolve provider, validate args,
//	                                       PermissionRequest(collab) ──▶ permission
//	                                       InvokeRequest ──▶ provider spoke
//	                                       validate result,
//	                                       PermissionRequest(data) ──▶ permission
//	spoke     ◀─ISCReply──────────── hub
//	permission ──PromptRequest──────▶ front end ──PromptReply──▶ permission
//
// No message a spoke receives carries a PID: a spoke can only answer the
// hub, never address another spoke. The hub learns who sent a message from
// the actor context, never from a field of the message.
package msg

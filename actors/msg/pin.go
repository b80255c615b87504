package msg

// Pin is the permission kind for running an app whose MCP server now
// reports tools that differ from the ones pinned (a rug pull, or an
// update): approving pins the new tools, denying keeps the app stopped.
// It is never granted from a session or permanent grant of another kind,
// and never offered as "always".
const Pin Kind = "pin"

// ToolsChangedRequest tells the hub, from the spoke that found it, that
// its app's server reported tools other than the pinned ones. The spoke
// has already stopped the worker; the hub asks the user. Changes are the
// hub's own words for the difference (engine/apps), with tool names quoted.
type ToolsChangedRequest struct {
	CallID  uint64
	QueryID string
	// Hash is the hash of the tools the server reported, the one to pin.
	Hash    string
	Changes []string
	// Missing are functions of the manifest the server no longer offers.
	Missing []string
	// Diffs are the old and new text of each part that changed, as the
	// server wrote them (untrusted).
	Diffs []ToolChange
}

// Parts of a tool a ToolChange can be about, in the hub's words.
const (
	PartAdded        = "added tool"
	PartRemoved      = "removed tool"
	PartDescription  = "description"
	PartInputSchema  = "input schema"
	PartOutputSchema = "output schema"
)

// ToolChange is one part of one tool that differs from the pin. Tool, Old
// and New are the server's text, never the hub's: a prompt shows them
// quoted, as data.
type ToolChange struct {
	Tool string
	Part string
	// Old is the pinned text ("" for an added tool), New what the server
	// reports now ("" for a removed one).
	Old string
	New string
}

// ToolsChangedReply answers ToolsChangedRequest.
type ToolsChangedReply struct {
	CallID  uint64
	QueryID string
	Allowed bool
	Reason  string
}

func (m *ToolsChangedRequest) WithCallID(id uint64) any {
	c := *m
	c.CallID = id
	return &c
}

func (m *ToolsChangedReply) ReplyTo() uint64 { return m.CallID }

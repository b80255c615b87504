package msg

// Key is the letter that picks a decision, the same on the terminal, in the
// TUI and in every prompt: o allow once, s allow session, a always allow,
// d deny. A letter never changes meaning with the prompt; a prompt that
// does not offer a decision does not take its letter.
func (d Decision) Key() string {
	switch d {
	case AllowOnce:
		return "o"
	case AllowSession:
		return "s"
	case AllowAlways:
		return "a"
	case Deny:
		return "d"
	}
	return ""
}

// Label names a decision for a person.
func (d Decision) Label() string {
	switch d {
	case AllowOnce:
		return "allow once"
	case AllowSession:
		return "allow session"
	case AllowAlways:
		return "always allow"
	}
	return "deny"
}

package msg

// Call ids: requests accept one, replies echo it (see package actors/rpc).

func (m *InvokeRequest) WithCallID(id uint64) any {
	c := *m
	c.CallID = id
	return &c
}

func (m *ISCRequest) WithCallID(id uint64) any {
	c := *m
	c.CallID = id
	return &c
}

func (m *ExecRequest) WithCallID(id uint64) any {
	c := *m
	c.CallID = id
	return &c
}

func (m *PermissionRequest) WithCallID(id uint64) any {
	c := *m
	c.CallID = id
	return &c
}

// Messages told without a reply accept a call id and ignore it.

func (m *PlanAccepted) WithCallID(uint64) any  { return m }
func (m *QueryFinished) WithCallID(uint64) any { return m }

func (m *InvokeReply) ReplyTo() uint64     { return m.CallID }
func (m *ISCReply) ReplyTo() uint64        { return m.CallID }
func (m *ExecReply) ReplyTo() uint64       { return m.CallID }
func (m *PermissionReply) ReplyTo() uint64 { return m.CallID }

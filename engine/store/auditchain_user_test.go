package store

import "testing"

// TestAuditChainAsOrdinaryUser runs the chain, verify and intent tests
// again as uid 65534 when the suite runs as root: the store must work, and
// catch the same tampering, for a user without privileges.
func TestAuditChainAsOrdinaryUser(t *testing.T) {
	runAsNobody(t, "TestAuditChainVerifies", "TestAuditVerifyDetectsTampering", "TestAuditVerifyAnchor",
		"TestAuditLegacyStore", "TestAuditIntentInterrupted", "TestAuditAsyncFlush")
}

package builtin

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/isolategpt/isolategpt/specs"
)

type healthCompanion struct {
	m      *specs.Manifest
	ledger *ledger
}

func newHealthCompanion(dataDir string) (App, error) {
	m, err := manifest("health_companion")
	if err != nil {
		return nil, err
	}
	l, err := openLedger(dataDir, "appointments.jsonl")
	if err != nil {
		return nil, err
	}
	return &healthCompanion{m: m, ledger: l}, nil
}

var appointmentFields = []string{"name", "dob", "city", "email", "preferred_date", "medical_issues", "preferred_doctor"}

func (a *healthCompanion) Call(ctx context.Context, function string, raw json.RawMessage) (json.RawMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	args, err := decodeArgs(a.m, function, raw)
	if err != nil {
		return nil, err
	}
	if function != "book_appointment" {
		return nil, toolError("health_companion has no function %q", function)
	}
	values := make([]string, len(appointmentFields))
	for i, f := range appointmentFields {
		values[i] = str(args, f)
	}
	doctor := str(args, "preferred_doctor")
	if doctor == "" {
		doctor = "any available doctor"
	}
	var c confirmation
	err = a.ledger.record(func(seq int) any {
		ref := bookingID("HC", seq, values...)
		at := slot(ref)
		// The confirmation leaves the medical details out: they stay in the
		// app's own records.
		c = confirmation{
			Reference: ref,
			Confirmation: fmt.Sprintf("Appointment booked for %s in %s on %s at %s with %s.",
				str(args, "name"), str(args, "city"), str(args, "preferred_date"), at, doctor),
		}
		rec := map[string]any{"reference": ref, "time": at}
		for i, f := range appointmentFields {
			rec[f] = values[i]
		}
		return rec
	})
	if err != nil {
		return nil, err
	}
	return result(c)
}

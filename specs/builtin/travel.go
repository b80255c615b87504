package builtin

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/isolategpt/isolategpt/specs"
)

// confirmation is the result of travel_mate's and health_companion's
// bookings.
type confirmation struct {
	Confirmation string `json:"confirmation"`
	Reference    string `json:"reference"`
}

type travelMate struct {
	m      *specs.Manifest
	ledger *ledger
}

func newTravelMate(dataDir string) (App, error) {
	m, err := manifest("travel_mate")
	if err != nil {
		return nil, err
	}
	l, err := openLedger(dataDir, "bookings.jsonl")
	if err != nil {
		return nil, err
	}
	return &travelMate{m: m, ledger: l}, nil
}

var flightFields = []string{"name", "email", "departure_city", "destination_city", "departure_date", "class_of_service", "special_requirements"}

func (a *travelMate) Call(ctx context.Context, function string, raw json.RawMessage) (json.RawMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	args, err := decodeArgs(a.m, function, raw)
	if err != nil {
		return nil, err
	}
	if function != "book_flight" {
		return nil, toolError("travel_mate has no function %q", function)
	}
	values := make([]string, len(flightFields))
	for i, f := range flightFields {
		values[i] = str(args, f)
	}
	var c confirmation
	err = a.ledger.record(func(seq int) any {
		ref := bookingID("TM", seq, values...)
		departs := slot(ref)
		c = confirmation{
			Reference: ref,
			Confirmation: fmt.Sprintf("Flight booked for %s from %s to %s on %s at %s, %s class.",
				str(args, "name"), str(args, "departure_city"), str(args, "destination_city"),
				str(args, "departure_date"), departs, str(args, "class_of_service")),
		}
		rec := map[string]any{"reference": ref, "departure_time": departs}
		for i, f := range flightFields {
			rec[f] = values[i]
		}
		return rec
	})
	if err != nil {
		return nil, err
	}
	return result(c)
}

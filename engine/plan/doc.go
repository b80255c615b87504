// Package plan defines the plan the planner returns and checks it against the
// catalog before anything runs.
//
// A plan is JSON:
//
//	{"steps": [
//	   {"id": "m", "app": "metro_hail", "function": "estimate_fare",
//	    "args": {"start_point": "Main Street", "end_point": "Elm Avenue"}},
//	   {"id": "q", "app": "quick_ride", "function": "estimate_fare",
//	    "args": {"start_point": "Main Street", "end_point": "Elm Avenue"}},
//	   {"id": "cheapest", "op": "min", "of": ["m", "q"], "field": "fare"},
//	   {"id": "book", "on": "cheapest", "function": "book_ride",
//	    "args": {"start_point": "Main Street", "end_point": {"$ref": "m.fare"}}},
//	   {"id": "t", "app": "travel_mate", "agent": "book a flight to Paris"}],
//	 "answer": "metro_hail: {{m.fare}}; quick_ride: {{q.fare}}; booked {{book.booking_id}} with {{cheapest.app}}"}
//
// Three kinds of step:
//
//   - call: app.function with literal arguments or {"$ref": "step.field"}
//     references to earlier typed results. A path may index an array:
//     "s1.messages.0.id" is the id of the first message s1 returned. "on" instead of "app" names an
//     operator step and calls the function on whichever app it chose.
//   - agent: the app's own spoke runs its agent loop on a task written by the
//     planner (for steps that need reasoning inside one app).
//   - op: a deterministic operator run by the hub on typed values: "min" or
//     "max" chooses the step whose numeric field is lowest or highest.
//
// The answer template is written before any app runs; {{step}},
// {{step.field}} and, for operators, {{op.app}}, {{op.step}}, {{op.value}} are
// filled by the hub.
//
// Validate rejects unknown apps and functions, arguments that do not fit the
// function's input schema, references to missing steps or fields, references
// whose type cannot fit the parameter, and cycles.
package plan

package builtin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/specs"
)

func start(t *testing.T, id, dataDir string) App {
	t.Helper()
	f, ok := Lookup(id)
	if !ok {
		t.Fatalf("no factory for %s", id)
	}
	app, err := f(dataDir)
	if err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	return app
}

func call(t *testing.T, app App, function string, args any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	out, err := app.Call(t.Context(), function, raw)
	if err != nil {
		t.Fatalf("%s(%s): %v", function, raw, err)
	}
	var v map[string]any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("result %s: %v", out, err)
	}
	return v
}

// sampleArgs are valid arguments for every function of every app.
var sampleArgs = map[string]map[string]any{
	"estimate_fare": {"start_point": "Main Street", "end_point": "Elm Avenue"},
	"book_ride":     {"start_point": "Main Street", "end_point": "Elm Avenue"},
	"book_flight": {"name": "Alice Smith", "email": "alice@example.com", "departure_city": "Boston",
		"destination_city": "Paris", "departure_date": "2025-06-01", "class_of_service": "economy", "special_requirements": "none"},
	"book_appointment": {"name": "Alice Smith", "dob": "1990-01-01", "city": "Boston", "email": "alice@example.com",
		"preferred_date": "2025-06-02", "medical_issues": "asthma"},
	// mail and drive
	"find_contact": {"name": "John Doe"},
	"search":       {"query": "report"},
	"read":         {"id": "m0001"},
	"draft":        {"to": "jane.smith@example.com", "subject": "Lunch", "message": "Noon?"},
	"send": {"to": "john.doe@example.com", "subject": "Report", "message": "Attached.",
		"attachment": map[string]any{"name": "hi.txt", "mime_type": "text/plain", "size": 2, "content_base64": "aGk="}},
	"delete":   {"id": "m0002"},
	"list":     {},
	"retrieve": {"query": "annual_report.pdf"},
	"save":     {"name": "notes.txt", "content": "hello"},
}

func TestRegistryMatchesManifests(t *testing.T) {
	ms, err := specs.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	var withCode []string
	for _, m := range ms {
		_, ok := Lookup(m.ID)
		if want := m.Kind == specs.KindBuiltin; ok != want {
			t.Errorf("%s (%s): Lookup found = %v", m.ID, m.Kind, ok)
		}
		if m.Kind == specs.KindBuiltin {
			withCode = append(withCode, m.ID)
		}
	}
	if !slices.Equal(IDs(), withCode) {
		t.Errorf("IDs() = %v, builtin manifests %v", IDs(), withCode)
	}
	if _, ok := Lookup("nope"); ok {
		t.Error("Lookup(nope) found a factory")
	}
}

// TestEveryFunctionAnswersItsSchema calls each declared function and checks
// the result against the declared output schema, as the hub will.
func TestEveryFunctionAnswersItsSchema(t *testing.T) {
	for _, id := range IDs() {
		m, err := specs.BuiltinByID(id)
		if err != nil {
			t.Fatal(err)
		}
		app := start(t, id, t.TempDir())
		for _, f := range m.Functions {
			t.Run(id+"."+f.Name, func(t *testing.T) {
				args, ok := sampleArgs[f.Name]
				if !ok {
					t.Fatalf("no sample arguments for %s", f.Name)
				}
				raw, _ := json.Marshal(args)
				out, err := app.Call(t.Context(), f.Name, raw)
				if err != nil {
					t.Fatalf("Call: %v", err)
				}
				if _, err := f.Output.DecodeValidate(out, 1<<20); err != nil {
					t.Errorf("result %s does not match the output schema: %v", out, err)
				}
			})
		}
	}
}

func TestFares(t *testing.T) {
	tests := []struct {
		app, start, end string
		want            float64
	}{
		{"metro_hail", "Main Street", "Elm Avenue", 51.8},
		{"quick_ride", "Main Street", "Elm Avenue", 57},
		{"metro_hail", "A", "B", 17.6},
		{"quick_ride", "A", "B", 19},
		{"metro_hail", "Abc", "D", 21.2},
		{"metro_hail", "Café", "Zoë", 26.6}, // characters, not bytes
		{"quick_ride", "Café", "Zoë", 29},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %s-%s", tt.app, tt.start, tt.end), func(t *testing.T) {
			app := start(t, tt.app, t.TempDir())
			got := call(t, app, "estimate_fare", map[string]any{"start_point": tt.start, "end_point": tt.end})
			if got["fare"] != tt.want || got["currency"] != "USD" {
				t.Errorf("estimate_fare = %v, want fare %v USD", got, tt.want)
			}
			booked := call(t, app, "book_ride", map[string]any{"start_point": tt.start, "end_point": tt.end})
			if booked["fare"] != tt.want || booked["status"] != "confirmed" {
				t.Errorf("book_ride = %v, want fare %v confirmed", booked, tt.want)
			}
		})
	}
}

func TestFareIsExactlyTwoDecimals(t *testing.T) {
	app := start(t, "metro_hail", t.TempDir())
	// 14 + 21*1.8 is 51.800000000000004 in float64 before rounding.
	out, err := app.Call(t.Context(), "estimate_fare", json.RawMessage(`{"start_point":"Main Street","end_point":"Elm Avenue"}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `{"fare":51.8,"currency":"USD"}` {
		t.Errorf("estimate_fare = %s", out)
	}
}

var idPattern = map[string]*regexp.Regexp{
	"metro_hail":       regexp.MustCompile(`^MH-[0-9a-f]{8}$`),
	"quick_ride":       regexp.MustCompile(`^QR-[0-9a-f]{8}$`),
	"travel_mate":      regexp.MustCompile(`^TM-[0-9a-f]{8}$`),
	"health_companion": regexp.MustCompile(`^HC-[0-9a-f]{8}$`),
}

var bookingFunction = map[string]string{
	"metro_hail": "book_ride", "quick_ride": "book_ride",
	"travel_mate": "book_flight", "health_companion": "book_appointment",
}

var ledgerFile = map[string]string{
	"metro_hail": "bookings.jsonl", "quick_ride": "bookings.jsonl",
	"travel_mate": "bookings.jsonl", "health_companion": "appointments.jsonl",
}

func bookingRef(v map[string]any) string {
	if id, ok := v["booking_id"].(string); ok {
		return id
	}
	s, _ := v["reference"].(string)
	return s
}

func TestBookingsAreDeterministic(t *testing.T) {
	for _, id := range slices.Sorted(maps.Keys(bookingFunction)) {
		t.Run(id, func(t *testing.T) {
			fn := bookingFunction[id]
			run := func() []map[string]any {
				app := start(t, id, t.TempDir())
				var out []map[string]any
				for range 3 {
					out = append(out, call(t, app, fn, sampleArgs[fn]))
				}
				return out
			}
			first, second := run(), run()
			if !slices.EqualFunc(first, second, func(a, b map[string]any) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) {
				t.Errorf("two fresh instances answered differently:\n%v\n%v", first, second)
			}
			seen := map[string]bool{}
			for _, b := range first {
				ref := bookingRef(b)
				if !idPattern[id].MatchString(ref) {
					t.Errorf("reference %q does not match %s", ref, idPattern[id])
				}
				if seen[ref] {
					t.Errorf("reference %q given twice", ref)
				}
				seen[ref] = true
			}
		})
	}
}

func TestBookingsContinueAfterRestart(t *testing.T) {
	dir := t.TempDir()
	fn := bookingFunction["metro_hail"]
	a := start(t, "metro_hail", dir)
	first := bookingRef(call(t, a, fn, sampleArgs[fn]))
	b := start(t, "metro_hail", dir)
	second := bookingRef(call(t, b, fn, sampleArgs[fn]))
	if first == second {
		t.Errorf("a restarted app reused booking id %s", first)
	}
	if n := len(readLedger(t, filepath.Join(dir, "bookings.jsonl"))); n != 2 {
		t.Errorf("%d records, want 2", n)
	}
}

func readLedger(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("ledger line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestBookingsStayInTheAppsFolder runs each app in its own folder under a
// shared parent and checks that every file written is the app's ledger (and
// its marker), in
// its own folder, readable by its owner only.
func TestBookingsStayInTheAppsFolder(t *testing.T) {
	parent := t.TempDir()
	for _, id := range slices.Sorted(maps.Keys(bookingFunction)) {
		dir := filepath.Join(parent, id)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		app := start(t, id, dir)
		fn := bookingFunction[id]
		res := call(t, app, fn, sampleArgs[fn])
		recs := readLedger(t, filepath.Join(dir, ledgerFile[id]))
		if len(recs) != 1 || bookingRef(recs[0]) != bookingRef(res) {
			t.Errorf("%s ledger %v does not hold booking %v", id, recs, res)
		}
	}
	var files []string
	err := filepath.WalkDir(parent, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(parent, path)
			files = append(files, rel)
			info, err := d.Info()
			if err != nil {
				return err
			}
			if perm := info.Mode().Perm(); perm != 0o600 {
				t.Errorf("%s has mode %v, want 0600", rel, perm)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Each ledger with its marker (kept.go).
	want := []string{"health_companion/appointments.jsonl", "health_companion/appointments.jsonl.made", "metro_hail/bookings.jsonl", "metro_hail/bookings.jsonl.made",
		"quick_ride/bookings.jsonl", "quick_ride/bookings.jsonl.made", "travel_mate/bookings.jsonl", "travel_mate/bookings.jsonl.made"}
	slices.Sort(files)
	if !slices.Equal(files, want) {
		t.Errorf("files written %v, want %v", files, want)
	}
}

func TestConcurrentBookings(t *testing.T) {
	dir := t.TempDir()
	app := start(t, "quick_ride", dir)
	const n = 40
	refs := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			out, err := app.Call(context.Background(), "book_ride", json.RawMessage(`{"start_point":"A","end_point":"B"}`))
			if err != nil {
				errs[i] = err
				return
			}
			var b map[string]any
			errs[i] = json.Unmarshal(out, &b)
			refs[i] = bookingRef(b)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	recs := readLedger(t, filepath.Join(dir, "bookings.jsonl"))
	if len(recs) != n {
		t.Fatalf("%d records, want %d", len(recs), n)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		seen[bookingRef(r)] = true
	}
	for _, ref := range refs {
		if !seen[ref] {
			t.Errorf("booking %s answered but not recorded", ref)
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct ids for %d bookings", len(seen), n)
	}
}

func TestBadCalls(t *testing.T) {
	tests := []struct {
		name, app, function, args string
		text                      string // in the tool error
	}{
		{"unknown function", "metro_hail", "delete_everything", `{}`, `no function "delete_everything"`},
		{"other app's function", "metro_hail", "book_flight", `{}`, "no function"},
		{"missing argument", "metro_hail", "estimate_fare", `{"start_point":"A"}`, "$.end_point: required property missing"},
		{"extra argument", "quick_ride", "book_ride", `{"start_point":"A","end_point":"B","fare":0}`, `unexpected property "fare"`},
		{"wrong type", "quick_ride", "estimate_fare", `{"start_point":1,"end_point":"B"}`, "$.start_point: expected string, got number"},
		{"empty place", "metro_hail", "estimate_fare", `{"start_point":"","end_point":"B"}`, "minLength 1"},
		{"place too long", "metro_hail", "estimate_fare", `{"start_point":"` + strings.Repeat("a", 201) + `","end_point":"B"}`, "maxLength 200"},
		{"duplicate key", "metro_hail", "book_ride", `{"start_point":"A","end_point":"B","end_point":"C"}`, "duplicate"},
		{"not JSON", "metro_hail", "estimate_fare", `start=A`, "invalid JSON"},
		{"not an object", "metro_hail", "estimate_fare", `["A","B"]`, "expected object"},
		{"trailing data", "metro_hail", "estimate_fare", `{"start_point":"A","end_point":"B"} {}`, "trailing"},
		{"too large", "metro_hail", "estimate_fare", `{"start_point":"` + strings.Repeat("a", MaxArgsBytes) + `","end_point":"B"}`, "too large"},
		{"bad email", "travel_mate", "book_flight", `{"name":"A","email":"not an email","departure_city":"B","destination_city":"C","departure_date":"D","class_of_service":"E","special_requirements":""}`, "$.email: not a valid email"},
		{"missing medical issues", "health_companion", "book_appointment", `{"name":"A","dob":"B","city":"C","email":"a@example.com","preferred_date":"D"}`, "$.medical_issues: required property missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			app := start(t, tt.app, dir)
			out, err := app.Call(t.Context(), tt.function, json.RawMessage(tt.args))
			var te *sandbox.ToolError
			if !errors.As(err, &te) {
				t.Fatalf("Call = %s, %v; want a *sandbox.ToolError", out, err)
			}
			if !strings.Contains(te.Message, tt.text) {
				t.Errorf("tool error %q does not mention %q", te.Message, tt.text)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("a refused call wrote %v", entries)
			}
		})
	}
}

func TestCancelledCall(t *testing.T) {
	dir := t.TempDir()
	app := start(t, "metro_hail", dir)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := app.Call(ctx, "book_ride", json.RawMessage(`{"start_point":"A","end_point":"B"}`)); !errors.Is(err, context.Canceled) {
		t.Errorf("Call on a cancelled context: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a cancelled call wrote %v", entries)
	}
}

func TestConfirmations(t *testing.T) {
	tm := start(t, "travel_mate", t.TempDir())
	flight := call(t, tm, "book_flight", sampleArgs["book_flight"])
	conf, _ := flight["confirmation"].(string)
	for _, want := range []string{"Alice Smith", "Boston", "Paris", "2025-06-01", "economy"} {
		if !strings.Contains(conf, want) {
			t.Errorf("flight confirmation %q lacks %q", conf, want)
		}
	}
	hc := start(t, "health_companion", t.TempDir())
	appt := call(t, hc, "book_appointment", sampleArgs["book_appointment"])
	conf, _ = appt["confirmation"].(string)
	if !strings.Contains(conf, "any available doctor") || strings.Contains(conf, "asthma") {
		t.Errorf("appointment confirmation %q", conf)
	}
	args := maps.Clone(sampleArgs["book_appointment"])
	args["preferred_doctor"] = "Dr. Who"
	appt = call(t, hc, "book_appointment", args)
	if conf, _ := appt["confirmation"].(string); !strings.Contains(conf, "Dr. Who") {
		t.Errorf("appointment confirmation %q lacks the preferred doctor", conf)
	}
}

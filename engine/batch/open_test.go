package batch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/isolategpt/isolategpt/actors/frontend"
	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/batch"
)

type fakeSession struct {
	user   string
	asked  *[]string
	closed *int
}

func (f fakeSession) Ask(_ context.Context, q string) (*msg.Answer, error) {
	*f.asked = append(*f.asked, f.user+":"+q)
	return &msg.Answer{Text: "answer to " + q, Model: "fake"}, nil
}

func (f fakeSession) Close() error { *f.closed++; return nil }

// Runner.Open replaces the engine's sessions (the baseline's, for
// --arch vanilla): one session per user, every line asked in it, every
// session closed at the end.
func TestRunnerOpen(t *testing.T) {
	var asked []string
	opened, closed := 0, 0
	r := &batch.Runner{DefaultUser: "ann", Open: func(_ context.Context, user string, _ frontend.Prompter) (batch.Session, error) {
		opened++
		return fakeSession{user: user, asked: &asked, closed: &closed}, nil
	}}
	in := `{"id":"1","query":"a"}` + "\n" + `{"id":"2","query":"b","user":"bob"}` + "\n" + `{"id":"3","query":"c"}` + "\n"
	var out bytes.Buffer
	sum, err := r.Run(t.Context(), strings.NewReader(in), &out)
	if err != nil || sum.Count[msg.Done] != 3 || sum.Worst != msg.Done {
		t.Fatalf("summary %+v, err %v\n%s", sum, err, out.String())
	}
	if strings.Join(asked, " ") != "ann:a bob:b ann:c" || opened != 2 || closed != 2 {
		t.Errorf("asked %v, opened %d, closed %d", asked, opened, closed)
	}
	var o batch.Output
	if err := json.Unmarshal(bytes.SplitN(out.Bytes(), []byte("\n"), 2)[0], &o); err != nil || o.Answer != "answer to a" {
		t.Errorf("first line %+v %v", o, err)
	}
}

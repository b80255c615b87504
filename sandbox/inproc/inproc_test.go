package inproc

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/isolategpt/isolategpt/sandbox"
	"github.com/isolategpt/isolategpt/specs"
	"github.com/isolategpt/isolategpt/specs/builtin"
)

func launch(t *testing.T, app, dir string) sandbox.Conn {
	t.Helper()
	c, err := Launcher{}.Launch(t.Context(), sandbox.App{ID: app}, dir)
	if err != nil {
		t.Fatalf("Launch %s: %v", app, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestListToolsReportsTheManifest(t *testing.T) {
	for _, id := range builtin.IDs() {
		t.Run(id, func(t *testing.T) {
			m, err := specs.BuiltinByID(id)
			if err != nil {
				t.Fatal(err)
			}
			c := launch(t, id, t.TempDir())
			tools, err := c.ListTools(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(tools) != len(m.Functions) {
				t.Fatalf("%d tools, manifest declares %d", len(tools), len(m.Functions))
			}
			for i, f := range m.Functions {
				tool := tools[i]
				wantIn, _ := json.Marshal(f.Input)
				wantOut, _ := json.Marshal(f.Output)
				if tool.Name != f.Name || tool.Description != f.Description ||
					string(tool.InputSchema) != string(wantIn) || string(tool.OutputSchema) != string(wantOut) {
					t.Errorf("tool %d = %+v, want function %s", i, tool, f.Name)
				}
				// The app's spoke gets the full schema, descriptions and all.
				if !strings.Contains(string(tool.InputSchema), `"description"`) {
					t.Errorf("%s input schema lacks descriptions: %s", f.Name, tool.InputSchema)
				}
			}
			tools[0].InputSchema[0] = 'X'
			again, _ := c.ListTools(t.Context())
			if again[0].InputSchema[0] == 'X' {
				t.Error("ListTools results share memory")
			}
		})
	}
}

func TestCallTool(t *testing.T) {
	dir := t.TempDir()
	c := launch(t, "metro_hail", dir)
	out, err := c.CallTool(t.Context(), "estimate_fare", json.RawMessage(`{"start_point":"Main Street","end_point":"Elm Avenue"}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `{"fare":51.8,"currency":"USD"}` {
		t.Errorf("estimate_fare = %s", out)
	}
	if _, err := c.CallTool(t.Context(), "book_ride", json.RawMessage(`{"start_point":"Main Street","end_point":"Elm Avenue"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bookings.jsonl")); err != nil {
		t.Errorf("booking not in the data folder: %v", err)
	}
}

func TestCallToolErrors(t *testing.T) {
	c := launch(t, "quick_ride", t.TempDir())
	tests := []struct {
		name, tool, args string
		check            func(error) bool
	}{
		{"undeclared tool", "delete_everything", `{}`, func(err error) bool { return errors.Is(err, ErrUnknownTool) }},
		{"hub-reserved name", "quick_ride__book_ride", `{}`, func(err error) bool { return errors.Is(err, ErrUnknownTool) }},
		{"bad arguments are the app's error", "estimate_fare", `{"start_point":1}`, func(err error) bool {
			te, ok := err.(*sandbox.ToolError)
			return ok && strings.Contains(te.Message, "bad arguments")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.CallTool(t.Context(), tt.tool, json.RawMessage(tt.args))
			if err == nil || !tt.check(err) {
				t.Errorf("CallTool = %s, %v (%T)", out, err, err)
			}
		})
	}
	t.Run("cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := c.CallTool(ctx, "estimate_fare", json.RawMessage(`{"start_point":"A","end_point":"B"}`)); !errors.Is(err, context.Canceled) {
			t.Errorf("CallTool: %v", err)
		}
	})
}

func TestLaunchRefuses(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(t.TempDir(), link); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name, app, dir string
		ctx            context.Context
		want           error
	}{
		{"unknown app", "nope", t.TempDir(), t.Context(), specs.ErrUnknownApp},
		{"path as app id", "../metro_hail", t.TempDir(), t.Context(), specs.ErrUnknownApp},
		{"prompt app", "symptom_solver", t.TempDir(), t.Context(), ErrNotRunnable},
		{"another prompt app", "creative_muse", t.TempDir(), t.Context(), ErrNotRunnable},
		{"empty data folder", "metro_hail", "", t.Context(), ErrBadDataDir},
		{"data folder is a file", "metro_hail", file, t.Context(), nil},
		{"data folder is a symlink", "metro_hail", link, t.Context(), ErrBadDataDir},
		{"cancelled", "metro_hail", t.TempDir(), cancelled, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Launcher{}.Launch(tt.ctx, sandbox.App{ID: tt.app}, tt.dir)
			if err == nil {
				c.Close()
				t.Fatal("Launch succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Launch: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDataDirMode(t *testing.T) {
	t.Run("created 0700 with parents", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "apps", "metro_hail")
		launch(t, "metro_hail", dir)
		assertMode(t, dir, 0o700)
		assertMode(t, filepath.Dir(dir), 0o700)
	})
	t.Run("narrowed to 0700", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "open")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		launch(t, "metro_hail", dir)
		assertMode(t, dir, 0o700)
	})
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s has mode %v, want %v", path, got, want)
	}
}

func TestClose(t *testing.T) {
	c := launch(t, "metro_hail", t.TempDir())
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := c.CallTool(t.Context(), "estimate_fare", json.RawMessage(`{"start_point":"A","end_point":"B"}`)); !errors.Is(err, sandbox.ErrClosed) {
		t.Errorf("CallTool after Close: %v", err)
	}
	if _, err := c.ListTools(t.Context()); !errors.Is(err, sandbox.ErrClosed) {
		t.Errorf("ListTools after Close: %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	dir := t.TempDir()
	c := launch(t, "quick_ride", dir)
	const n = 32
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for range n {
		wg.Go(func() {
			if _, err := c.CallTool(context.Background(), "book_ride", json.RawMessage(`{"start_point":"A","end_point":"B"}`)); err != nil && !errors.Is(err, sandbox.ErrClosed) {
				errs <- err
			}
		})
		wg.Go(func() {
			if _, err := c.ListTools(context.Background()); err != nil && !errors.Is(err, sandbox.ErrClosed) {
				errs <- err
			}
		})
	}
	wg.Go(func() { c.Close() })
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, err := c.CallTool(t.Context(), "book_ride", json.RawMessage(`{"start_point":"A","end_point":"B"}`)); !errors.Is(err, sandbox.ErrClosed) {
		t.Errorf("CallTool after Close: %v", err)
	}
}

// fakeApp stands in for a misbehaving app.
type fakeApp struct {
	call   func() (json.RawMessage, error)
	closed int
}

func (f *fakeApp) Call(context.Context, string, json.RawMessage) (json.RawMessage, error) {
	return f.call()
}

func (f *fakeApp) Close() error { f.closed++; return nil }

func fakeConn(t *testing.T, app *fakeApp) *conn {
	t.Helper()
	m, err := specs.BuiltinByID("metro_hail")
	if err != nil {
		t.Fatal(err)
	}
	c, err := newConn(m, app)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAppFailuresAreContained(t *testing.T) {
	args := json.RawMessage(`{"start_point":"A","end_point":"B"}`)
	t.Run("panic", func(t *testing.T) {
		c := fakeConn(t, &fakeApp{call: func() (json.RawMessage, error) { panic("boom") }})
		if _, err := c.CallTool(t.Context(), "estimate_fare", args); !errors.Is(err, ErrAppPanicked) {
			t.Errorf("CallTool: %v", err)
		}
	})
	t.Run("wrapped tool error is unwrapped", func(t *testing.T) {
		c := fakeConn(t, &fakeApp{call: func() (json.RawMessage, error) {
			return nil, errors.Join(errors.New("context"), &sandbox.ToolError{Message: "no cars"})
		}})
		_, err := c.CallTool(t.Context(), "estimate_fare", args)
		if te, ok := err.(*sandbox.ToolError); !ok || te.Message != "no cars" {
			t.Errorf("CallTool: %v (%T)", err, err)
		}
	})
	t.Run("other error", func(t *testing.T) {
		disk := errors.New("disk full")
		c := fakeConn(t, &fakeApp{call: func() (json.RawMessage, error) { return nil, disk }})
		_, err := c.CallTool(t.Context(), "estimate_fare", args)
		var te *sandbox.ToolError
		if !errors.Is(err, disk) || errors.As(err, &te) {
			t.Errorf("CallTool: %v", err)
		}
	})
	t.Run("close releases the app once", func(t *testing.T) {
		app := &fakeApp{}
		c := fakeConn(t, app)
		c.Close()
		c.Close()
		if app.closed != 1 {
			t.Errorf("app closed %d times", app.closed)
		}
	})
}

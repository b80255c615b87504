package llmtest

import "testing"

// fakeT records what JSONEqual reports instead of failing the test.
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Helper()               {}
func (f *fakeT) Errorf(string, ...any) { f.failed = true }
func (f *fakeT) Fatalf(string, ...any) { f.failed = true }

func TestJSONEqual(t *testing.T) {
	for _, tc := range []struct {
		name, got, want string
		fails           bool
	}{
		{"key order and spaces", `{"a":1,"b":[true,null]}`, `{ "b": [true, null], "a": 1 }`, false},
		{"another value", `{"a":1}`, `{"a":2}`, true},
		{"a missing key", `{"a":1}`, `{"a":1,"b":2}`, true},
		{"not JSON", `{"a":`, `{"a":1}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeT{}
			JSONEqual(f, tc.got, tc.want)
			if f.failed != tc.fails {
				t.Errorf("failed %v, want %v", f.failed, tc.fails)
			}
		})
	}
}

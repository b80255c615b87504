// Package llmtest holds what the tests of the model providers share: a
// comparison of the JSON a provider sent with the JSON it should have.
package llmtest

import (
	"encoding/json"
	"reflect"
	"testing"
)

// JSONEqual fails the test unless got and want are JSON texts that hold
// the same value, whatever their key order and white space.
func JSONEqual(t testing.TB, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("got %q is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %q is not JSON: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("JSON = %s, want %s", got, want)
	}
}

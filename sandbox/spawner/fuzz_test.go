package spawner

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/isolategpt/isolategpt/specs/strictjson"
)

// FuzzMessages: both ends decode the other's packets with the strict
// decoder; whatever it accepts encodes back to the same message.
func FuzzMessages(f *testing.F) {
	f.Add([]byte(`{"op":"spawn","id":1,"files":[0,1,-1,2],"capture_stderr":true}`))
	f.Add([]byte(`{"op":"kill","pid":42}`))
	f.Add([]byte(`{"op":"exit","pid":42,"status":9,"stderr":"fatal error: x"}`))
	f.Add([]byte(`{"op":"spawned","id":1,"error":"start worker: EPERM"}`))
	f.Add([]byte(`{"op":"spawn","op":"kill"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var req request
		if strictjson.Unmarshal(b, &req, maxPacket) == nil {
			var again request
			out, _ := json.Marshal(req)
			if err := strictjson.Unmarshal(out, &again, maxPacket); err != nil || !reflect.DeepEqual(req, again) {
				t.Fatalf("request %s does not survive a round trip: %v", out, err)
			}
		}
		var r reply
		if strictjson.Unmarshal(b, &r, maxPacket) == nil {
			var again reply
			out, _ := json.Marshal(r)
			if err := strictjson.Unmarshal(out, &again, maxPacket); err != nil || !reflect.DeepEqual(r, again) {
				t.Fatalf("reply %s does not survive a round trip: %v", out, err)
			}
		}
	})
}

// TestDecodersAreStrict: a duplicated key, a stray field or trailing data
// is refused.
func TestDecodersAreStrict(t *testing.T) {
	for _, b := range []string{
		`{"op":"spawn","op":"kill"}`,
		`{"op":"spawn","program":"/bin/sh"}`,
		`{"op":"kill","pid":1} {}`,
		`{"op":"kill","pid":"1"}`,
	} {
		var req request
		if err := strictjson.Unmarshal([]byte(b), &req, maxPacket); err == nil {
			t.Errorf("accepted %s", b)
		}
	}
}

package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

func decodeOne(t *testing.T, line string, opts Options) (*Message, error) {
	t.Helper()
	return NewDecoder(strings.NewReader(line), opts).Decode()
}

func TestDecoderRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		want error
	}{
		{"invalid JSON", `{"jsonrpc":"2.0","id":1,"result":}` + "\n", ErrInvalidJSON},
		{"not JSON at all", "hello\n", ErrInvalidJSON},
		{"empty line", "\n", ErrInvalidJSON},
		{"unterminated object", `{"jsonrpc":"2.0"` + "\n", ErrInvalidJSON},
		{"invalid UTF-8 in a string", "{\"jsonrpc\":\"2.0\",\"method\":\"a\xff\"}\n", ErrInvalidUTF8},
		{"invalid UTF-8 in a key", "{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"params\":{\"\xc3\":1}}\n", ErrInvalidUTF8},
		{"duplicate top-level key", `{"jsonrpc":"2.0","id":1,"id":2,"result":{}}` + "\n", ErrDuplicateKey},
		{"duplicate key by escape", `{"jsonrpc":"2.0","id":1,"\u0069d":2,"result":{}}` + "\n", ErrDuplicateKey},
		{"duplicate nested key", `{"jsonrpc":"2.0","id":1,"result":{"a":{"isError":false,"isError":true}}}` + "\n", ErrDuplicateKey},
		{"duplicate key in array item", `{"jsonrpc":"2.0","id":1,"result":[{"x":1},{"y":1,"y":2}]}` + "\n", ErrDuplicateKey},
		{"trailing value", `{"jsonrpc":"2.0","id":1,"result":{}} {}` + "\n", ErrTrailingData},
		{"trailing garbage", `{"jsonrpc":"2.0","id":1,"result":{}}x` + "\n", ErrTrailingData},
		{"batch", `[{"jsonrpc":"2.0","id":1,"result":{}}]` + "\n", ErrInvalidMessage},
		{"scalar", `2` + "\n", ErrInvalidMessage},
		{"jsonrpc 1.0", `{"jsonrpc":"1.0","id":1,"result":{}}` + "\n", ErrInvalidMessage},
		{"jsonrpc missing", `{"id":1,"result":{}}` + "\n", ErrInvalidMessage},
		{"jsonrpc number", `{"jsonrpc":2.0,"id":1,"result":{}}` + "\n", ErrInvalidMessage},
		{"both result and error", `{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"x"}}` + "\n", ErrInvalidMessage},
		{"response with neither", `{"jsonrpc":"2.0","id":1}` + "\n", ErrInvalidMessage},
		{"response without id", `{"jsonrpc":"2.0","result":{}}` + "\n", ErrInvalidMessage},
		{"result with null id", `{"jsonrpc":"2.0","id":null,"result":{}}` + "\n", ErrInvalidMessage},
		{"id object", `{"jsonrpc":"2.0","id":{"n":1},"result":{}}` + "\n", ErrInvalidMessage},
		{"id array", `{"jsonrpc":"2.0","id":[1],"result":{}}` + "\n", ErrInvalidMessage},
		{"id bool", `{"jsonrpc":"2.0","id":true,"method":"m"}` + "\n", ErrInvalidMessage},
		{"request id null", `{"jsonrpc":"2.0","id":null,"method":"m"}` + "\n", ErrInvalidMessage},
		{"case-folded member", `{"jsonrpc":"2.0","ID":1,"result":{}}` + "\n", ErrInvalidMessage},
		{"unknown member", `{"jsonrpc":"2.0","id":1,"result":{},"extra":1}` + "\n", ErrInvalidMessage},
		{"method not a string", `{"jsonrpc":"2.0","id":1,"method":7}` + "\n", ErrInvalidMessage},
		{"empty method", `{"jsonrpc":"2.0","id":1,"method":""}` + "\n", ErrInvalidMessage},
		{"params scalar", `{"jsonrpc":"2.0","id":1,"method":"m","params":"x"}` + "\n", ErrInvalidMessage},
		{"params null", `{"jsonrpc":"2.0","id":1,"method":"m","params":null}` + "\n", ErrInvalidMessage},
		{"request with result", `{"jsonrpc":"2.0","id":1,"method":"m","result":{}}` + "\n", ErrInvalidMessage},
		{"response with params", `{"jsonrpc":"2.0","id":1,"result":{},"params":{}}` + "\n", ErrInvalidMessage},
		{"error not an object", `{"jsonrpc":"2.0","id":1,"error":"boom"}` + "\n", ErrInvalidMessage},
		{"error code fraction", `{"jsonrpc":"2.0","id":1,"error":{"code":1.5,"message":"x"}}` + "\n", ErrInvalidMessage},
		{"error code string", `{"jsonrpc":"2.0","id":1,"error":{"code":"1","message":"x"}}` + "\n", ErrInvalidMessage},
		{"error without message", `{"jsonrpc":"2.0","id":1,"error":{"code":1}}` + "\n", ErrInvalidMessage},
		{"error unknown member", `{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"x","Code":2}}` + "\n", ErrInvalidMessage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := decodeOne(t, tc.line, Options{})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode = %+v, %v; want %v", m, err, tc.want)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("%v does not wrap ErrMalformed", err)
			}
			if m != nil {
				t.Errorf("refused line returned a message: %+v", m)
			}
		})
	}
}

func TestDecoderAccepts(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		want Message
	}{
		{"request", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x"}}`,
			Message{JSONRPC: "2.0", ID: json.RawMessage(`7`), Method: "tools/call", Params: json.RawMessage(`{"name":"x"}`)}},
		{"string id, spaced", ` { "jsonrpc" : "2.0", "id" : "a", "method" : "m", "params" : [ 1, 2 ] } ` + "\r",
			Message{JSONRPC: "2.0", ID: json.RawMessage(`"a"`), Method: "m", Params: json.RawMessage(`[1,2]`)}},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`,
			Message{JSONRPC: "2.0", Method: "notifications/initialized"}},
		{"null result", `{"jsonrpc":"2.0","id":1,"result":null}`,
			Message{JSONRPC: "2.0", ID: json.RawMessage(`1`), Result: json.RawMessage(`null`)}},
		{"error with data", `{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"no","data":{"a":1}}}`,
			Message{JSONRPC: "2.0", ID: json.RawMessage(`1`), Error: &RPCError{Code: -32601, Message: "no", Data: json.RawMessage(`{"a":1}`)}}},
		{"parse error with null id", `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"bad"}}`,
			Message{JSONRPC: "2.0", ID: json.RawMessage(`null`), Error: &RPCError{Code: -32700, Message: "bad"}}},
		{"huge number", `{"jsonrpc":"2.0","id":1,"result":{"n":1e400}}`,
			Message{JSONRPC: "2.0", ID: json.RawMessage(`1`), Result: json.RawMessage(`{"n":1e400}`)}},
		{"same key in sibling objects", `{"jsonrpc":"2.0","id":1,"result":[{"a":1},{"a":2}]}`,
			Message{JSONRPC: "2.0", ID: json.RawMessage(`1`), Result: json.RawMessage(`[{"a":1},{"a":2}]`)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := decodeOne(t, tc.line+"\n", Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*m, tc.want) {
				t.Fatalf("Decode = %+v\nwant     %+v", *m, tc.want)
			}
		})
	}
}

func TestDecoderContinuesAfterMalformedLine(t *testing.T) {
	in := "nonsense\n" + `{"jsonrpc":"2.0","method":"m"}` + "\n"
	d := NewDecoder(strings.NewReader(in), Options{})
	if _, err := d.Decode(); !errors.Is(err, ErrInvalidJSON) {
		t.Fatalf("first Decode: %v, want ErrInvalidJSON", err)
	}
	m, err := d.Decode()
	if err != nil || m.Method != "m" {
		t.Fatalf("second Decode = %+v, %v", m, err)
	}
	if _, err := d.Decode(); err != io.EOF {
		t.Fatalf("third Decode: %v, want io.EOF", err)
	}
}

func TestDecoderBreaksOnFraming(t *testing.T) {
	const limit = 100
	ok := `{"jsonrpc":"2.0","method":"m"}` + "\n"
	long := `{"jsonrpc":"2.0","method":"m","params":["` + strings.Repeat("x", 200) + `"]}` + "\n"
	exact := `{"jsonrpc":"2.0","method":"m","params":["` + strings.Repeat("x", limit-len(`{"jsonrpc":"2.0","method":"m","params":[""]}`)) + `"]}` + "\n"
	for _, tc := range []struct {
		name  string
		r     io.Reader
		wants []error // per Decode, nil meaning a message
	}{
		{"line over the limit", strings.NewReader(ok + long + ok), []error{nil, ErrTooLarge, ErrTooLarge}},
		{"line at the limit", strings.NewReader(exact + ok), []error{nil, nil, io.EOF}},
		{"endless line, read in bits", iotest.OneByteReader(io.MultiReader(strings.NewReader(`{"a":"`), neverEnding('x'))), []error{ErrTooLarge}},
		{"final line without newline", strings.NewReader(ok + strings.TrimSuffix(ok, "\n")), []error{nil, io.ErrUnexpectedEOF, io.ErrUnexpectedEOF}},
		{"read error", io.MultiReader(strings.NewReader(ok), iotest.ErrReader(errBoom)), []error{nil, errBoom, errBoom}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(tc.r, Options{MaxMessageBytes: limit})
			for i, want := range tc.wants {
				m, err := d.Decode()
				if want == nil {
					if err != nil {
						t.Fatalf("Decode %d: %v", i, err)
					}
					continue
				}
				if !errors.Is(err, want) || m != nil {
					t.Fatalf("Decode %d = %v, %v; want %v", i, m, err, want)
				}
			}
		})
	}
}

var errBoom = errors.New("boom")

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

func TestEncoderRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    Message
		max  int
		want error
	}{
		{"invalid params", Message{ID: json.RawMessage(`1`), Method: "m", Params: json.RawMessage(`{`)}, 0, ErrInvalidJSON},
		{"scalar params", Message{ID: json.RawMessage(`1`), Method: "m", Params: json.RawMessage(`3`)}, 0, ErrInvalidMessage},
		{"wrong version", Message{JSONRPC: "1.0", Method: "m"}, 0, ErrInvalidMessage},
		{"response with neither", Message{ID: json.RawMessage(`1`)}, 0, ErrInvalidMessage},
		{"too large", Message{Method: "m", Params: json.RawMessage(`["` + strings.Repeat("x", 100) + `"]`)}, 64, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := NewEncoder(&buf, Options{MaxMessageBytes: tc.max}).Encode(&tc.m)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Encode: %v, want %v", err, tc.want)
			}
			if buf.Len() != 0 {
				t.Errorf("refused message was written: %q", buf.String())
			}
		})
	}
}

func TestEncoderWritesOneCompactLine(t *testing.T) {
	var buf bytes.Buffer
	m := &Message{ID: json.RawMessage(`"x"`), Method: "m<&>", Params: json.RawMessage("{\n  \"a\": \"line\\nbreak\"\n}")}
	if err := NewEncoder(&buf, Options{}).Encode(m); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("not one line: %q", out)
	}
	got, err := NewDecoder(&buf, Options{}).Decode()
	if err != nil {
		t.Fatal(err)
	}
	want := Message{JSONRPC: "2.0", ID: json.RawMessage(`"x"`), Method: "m<&>", Params: json.RawMessage(`{"a":"line\nbreak"}`)}
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("round trip = %+v, want %+v", *got, want)
	}
}

// FuzzDecode feeds arbitrary bytes to a Decoder. It must not panic, must
// not return a message larger than the limit, and every message it accepts
// must encode and decode back to the same value.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{}}}`,
		`{"jsonrpc":"2.0","id":"a","result":{"content":[{"type":"text","text":"hi"}],"isError":true}}`,
		`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error","data":[1,"<&>"]}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":1,"id":2,"result":{}}`,
		`{"jsonrpc":"2.0","id":1e3,"result":"\u0000\ud800"}`,
		"{\"jsonrpc\":\"2.0\",\"method\":\"\xff\"}",
		`[]`, `{}`, ``, "\n\n", `{"jsonrpc":"2.0","id":1,"result":{}} x`,
	} {
		f.Add([]byte(s + "\n"))
	}
	const limit = 512
	f.Fuzz(func(t *testing.T, in []byte) {
		d := NewDecoder(bytes.NewReader(in), Options{MaxMessageBytes: limit})
		for range 1000 {
			m, err := d.Decode()
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					return // the stream ended or broke
				}
				continue
			}
			size := len(m.ID) + len(m.Method) + len(m.Params) + len(m.Result)
			if m.Error != nil {
				size += len(m.Error.Message) + len(m.Error.Data)
			}
			if size > limit {
				t.Fatalf("accepted a message of %d bytes, limit %d", size, limit)
			}
			line, err := marshalMessage(m, 1<<20)
			if err != nil {
				t.Fatalf("accepted message does not encode: %v\n%+v", err, m)
			}
			again, err := NewDecoder(bytes.NewReader(line), Options{}).Decode()
			if err != nil {
				t.Fatalf("re-encoded message does not decode: %v\n%s", err, line)
			}
			if !reflect.DeepEqual(m, again) {
				t.Fatalf("round trip changed the message:\n%+v\n%+v", m, again)
			}
		}
	})
}

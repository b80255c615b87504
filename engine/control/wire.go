package control

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/isolategpt/isolategpt/specs/strictjson"
)

// Request is the command a later process asks the holder to run for it.
type Request struct {
	// Args are the command line after the program name ("ask", "--yes", …).
	Args []string `json:"args"`
	// Dir is the caller's working folder, for relative paths in Args.
	Dir string `json:"dir,omitempty"`
	// Env is the caller's environment (KEY=VALUE), which the command reads
	// instead of the holder's.
	Env []string `json:"env,omitempty"`
	// InTerminal and OutTerminal say whether the caller's stdin and
	// stdout are terminals.
	InTerminal  bool `json:"in_terminal,omitempty"`
	OutTerminal bool `json:"out_terminal,omitempty"`
}

// frame is one line on the socket. Exactly one field is set.
//
//	server → client: hello, stdout, stderr, read, exit, unserved
//	client → server: run, stdin, stdin_eof, interrupt
type frame struct {
	Hello    *Info    `json:"hello,omitempty"`
	Run      *Request `json:"run,omitempty"`
	Stdout   []byte   `json:"stdout,omitempty"`
	Stderr   []byte   `json:"stderr,omitempty"`
	Read     int      `json:"read,omitempty"`
	Stdin    []byte   `json:"stdin,omitempty"`
	StdinEOF bool     `json:"stdin_eof,omitempty"`
	// Interrupt: the caller was interrupted (Ctrl+C) once; the command
	// denies its prompts and finishes the work in flight.
	Interrupt bool   `json:"interrupt,omitempty"`
	Exit      *int   `json:"exit,omitempty"`
	Unserved  string `json:"unserved,omitempty"`
}

// Limits of the protocol.
const (
	// maxChunk is the most bytes one stdout, stderr or stdin frame holds.
	maxChunk = 32 << 10
	// maxFrame bounds one encoded line: a chunk in base64, or a request
	// with the caller's environment.
	maxFrame = 1 << 20
	maxArgs  = 4096
	maxEnv   = 4096
)

var errFrame = errors.New("bad control frame")

// check refuses a frame that sets no field or several, or holds more than
// the limits allow.
func (f *frame) check() error {
	n := 0
	for _, set := range []bool{f.Hello != nil, f.Run != nil, f.Stdout != nil, f.Stderr != nil, f.Read != 0, f.Stdin != nil, f.StdinEOF, f.Interrupt, f.Exit != nil, f.Unserved != ""} {
		if set {
			n++
		}
	}
	switch {
	case n != 1:
		return fmt.Errorf("%w: %d fields set", errFrame, n)
	case len(f.Stdout) > maxChunk || len(f.Stderr) > maxChunk || len(f.Stdin) > maxChunk:
		return fmt.Errorf("%w: chunk larger than %d bytes", errFrame, maxChunk)
	case f.Read < 0 || f.Read > maxChunk:
		return fmt.Errorf("%w: read of %d bytes", errFrame, f.Read)
	case f.Run != nil && (len(f.Run.Args) == 0 || len(f.Run.Args) > maxArgs || len(f.Run.Env) > maxEnv):
		return fmt.Errorf("%w: run with %d arguments and %d variables", errFrame, len(f.Run.Args), len(f.Run.Env))
	}
	return nil
}

// codec reads and writes frames on one connection.
type codec struct {
	r *bufio.Reader
	w io.Writer
}

func newCodec(rw io.ReadWriter) *codec {
	return &codec{r: bufio.NewReaderSize(rw, 64<<10), w: rw}
}

func (c *codec) send(f frame) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	_, err = c.w.Write(append(b, '\n'))
	return err
}

func (c *codec) recv() (frame, error) {
	line, err := readLine(c.r)
	if err != nil {
		return frame{}, err
	}
	return decodeFrame(line)
}

// decodeFrame decodes one line strictly and checks it.
func decodeFrame(line []byte) (frame, error) {
	var f frame
	if err := strictjson.Line(line, &f, maxFrame); err != nil {
		return frame{}, fmt.Errorf("%w: %v", errFrame, err)
	}
	if err := f.check(); err != nil {
		return frame{}, err
	}
	return f, nil
}

// readLine reads one line of at most maxFrame bytes.
func readLine(r *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, isPrefix, err := r.ReadLine()
		buf = append(buf, chunk...)
		if len(buf) > maxFrame {
			return nil, fmt.Errorf("%w: line longer than %d bytes", errFrame, maxFrame)
		}
		if err != nil {
			return nil, err
		}
		if !isPrefix {
			return buf, nil
		}
	}
}

// Fatal errors, panics and the commands' own error messages go to the
// data folder's log (isolategpt.log) as well as to stderr: a crash of a
// TUI, whose terminal is gone, or of a batch run by a script that threw
// stderr away, still leaves its reason where the user looks.

package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// folderLog is the log of the data folder this process holds, once it is
// open; the commands' messages on stderr are copied to it.
var folderLog atomic.Pointer[slog.Logger]

// afterLogOpen, when set (by a test), runs once the log is the crash
// output.
var afterLogOpen func()

// logCrashes makes f, the data folder's log, where the runtime writes an
// unhandled panic or a fatal error (with its stack) besides stderr, and
// logger where the commands' messages are copied.
func logCrashes(f *os.File, logger *slog.Logger) {
	if err := debug.SetCrashOutput(f, debug.CrashOptions{}); err != nil {
		logger.Warn("crash output", "err", err)
	}
	folderLog.Store(logger)
	if afterLogOpen != nil {
		afterLogOpen()
	}
}

// stderrLog is a command's stderr that also logs its own messages: each
// line that starts with "isolategpt " (an error, a status, a warning) or
// "batch: " (a batch's summary). Prompts and answers are not logged.
type stderrLog struct {
	w    io.Writer
	mu   sync.Mutex
	line []byte
}

// maxLogLine bounds a line kept while it is not yet complete.
const maxLogLine = 64 << 10

func logStderr(w io.Writer) io.Writer { return &stderrLog{w: w} }

func (s *stderrLog) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.line = append(s.line, p[:n]...)
	for {
		i := bytes.IndexByte(s.line, '\n')
		if i < 0 {
			break
		}
		logLine(s.line[:i])
		s.line = s.line[i+1:]
	}
	if len(s.line) > maxLogLine {
		s.line = s.line[:0]
	}
	return n, err
}

func logLine(l []byte) {
	// Answered from a pipe, a prompt's line is not ended by the echo of
	// the answer: the message that follows shares its line.
	if _, after, ok := bytes.Cut(l, []byte(promptEnd)); ok {
		l = after
	}
	if !bytes.HasPrefix(l, []byte("isolategpt ")) && !bytes.HasPrefix(l, []byte("batch: ")) {
		return
	}
	if lg := folderLog.Load(); lg != nil {
		lg.Warn("said on stderr", "message", string(l))
	}
}

// logPanic logs a panic that unwinds through run before it goes on to
// crash the process (where the crash output has the stack).
func logPanic() {
	if v := recover(); v != nil {
		if lg := folderLog.Load(); lg != nil {
			lg.Error("panic", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
		panic(v)
	}
}

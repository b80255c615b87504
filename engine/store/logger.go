package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// badgerLogger adapts badger.Logger to slog. Badger's default logger writes
// to stderr, which must never happen while the TUI owns the terminal.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, args ...any)   { b.log(slog.LevelError, f, args) }
func (b badgerLogger) Warningf(f string, args ...any) { b.log(slog.LevelWarn, f, args) }
func (b badgerLogger) Infof(f string, args ...any)    { b.log(slog.LevelInfo, f, args) }
func (b badgerLogger) Debugf(f string, args ...any)   { b.log(slog.LevelDebug, f, args) }

func (b badgerLogger) log(level slog.Level, f string, args []any) {
	ctx := context.Background()
	if !b.l.Enabled(ctx, level) {
		return
	}
	// Badger ends many messages with a newline and sometimes logs a bare one.
	msg := strings.TrimSpace(fmt.Sprintf(f, args...))
	if msg == "" {
		return
	}
	b.l.Log(ctx, level, msg)
}

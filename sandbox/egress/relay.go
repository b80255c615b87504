package egress

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// relay copies bytes between a and b in both directions until both have
// finished, and reports how many went each way. A side that ends its stream
// (EOF) has that end passed on as a half-close, so request-then-read clients
// still get their answer; any other error, or idle with no byte either way
// for idle (when idle > 0), ends both directions by closing both
// connections. The caller closes them in any case once relay returns.
func relay(a, b net.Conn, idle time.Duration) (ab, ba int64) {
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	var stopOnce sync.Once
	stop := func() {
		// Closing, not a deadline: the other direction may be about to
		// push its own deadline forward.
		stopOnce.Do(func() {
			a.Close()
			b.Close()
		})
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ba = pipe(a, b, idle, &last, stop)
	}()
	ab = pipe(b, a, idle, &last, stop)
	wg.Wait()
	return ab, ba
}

// pipe copies src to dst; see relay.
func pipe(dst, src net.Conn, idle time.Duration, last *atomic.Int64, stop func()) int64 {
	buf := make([]byte, 32<<10)
	var n int64
	for {
		if idle > 0 {
			src.SetReadDeadline(time.Unix(0, last.Load()).Add(idle))
		}
		r, rerr := src.Read(buf)
		if r > 0 {
			now := time.Now()
			last.Store(now.UnixNano())
			if idle > 0 {
				dst.SetWriteDeadline(now.Add(idle))
			}
			w, werr := dst.Write(buf[:r])
			n += int64(w)
			if werr != nil {
				stop()
				return n
			}
		}
		switch {
		case rerr == nil:
		case errors.Is(rerr, io.EOF):
			if cw, ok := dst.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
				return n
			}
			stop()
			return n
		case idle > 0 && errors.Is(rerr, os.ErrDeadlineExceeded) &&
			time.Since(time.Unix(0, last.Load())) < idle:
			// The other direction was busy; this one is not idle yet.
		default:
			stop()
			return n
		}
	}
}

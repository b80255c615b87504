package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Forward runs inside the sandbox: it accepts connections on l (a loopback
// listener the app's HTTP_PROXY points at) and relays each, byte for byte,
// to a connection to the proxy that dial opens (PassDialer). It adds
// nothing to the stream; the proxy alone decides. Forward returns nil once
// ctx ends or l is closed, having closed l and every relayed connection.
func Forward(ctx context.Context, l net.Listener, dial func(context.Context) (net.Conn, error)) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		l.Close()
		wg.Wait()
	}()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()

	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			if !retryableAccept(err) {
				return fmt.Errorf("forward to the egress proxy: accept: %w", err)
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		backoff = 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			stopC := context.AfterFunc(ctx, func() { c.Close() })
			defer stopC()
			u, err := dial(ctx)
			if err != nil {
				return // the app sees its connection closed
			}
			defer u.Close()
			stopU := context.AfterFunc(ctx, func() { u.Close() })
			defer stopU()
			// No idle limit here: the proxy enforces its own and closes its
			// end, which the app then sees as end of stream.
			relay(c, u, 0)
		}()
	}
}

package llm

import (
	"fmt"
	"io"
	"net/http"
)

// maxResponseBytes bounds what a remote provider may send back for one call.
// langchaingo's clients read bodies without a limit; a hostile or broken
// endpoint must not be able to fill memory.
const maxResponseBytes = 8 << 20

// cappedDoer is the http.Client handed to langchaingo providers: it wraps
// every response body so that reading past the limit fails.
type cappedDoer struct {
	client *http.Client
	limit  int64
}

func capped(c *http.Client) cappedDoer {
	if c == nil {
		c = http.DefaultClient
	}
	return cappedDoer{client: c, limit: maxResponseBytes}
}

func (d cappedDoer) Do(req *http.Request) (*http.Response, error) {
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &cappedBody{rc: resp.Body, limit: d.limit, left: d.limit}
	return resp, nil
}

type cappedBody struct {
	rc          io.ReadCloser
	limit, left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// At the limit: one more byte tells a body that ends exactly here
		// from one that goes on.
		var probe [1]byte
		n, err := b.rc.Read(probe[:])
		if n > 0 {
			return 0, fmt.Errorf("%w: more than %d bytes", ErrResponseTooLarge, b.limit)
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }

package launch

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// stdio is the worker's fd 0, 1 and 2 for the spawner: a file is passed as
// it is; another writer gets a pipe the hub copies from until the worker
// is gone; nil is /dev/null (and, for stderr, the spawner's capture). The
// ends meant for the worker are closed in the hub by closeChildEnds.
func (p *proc) stdio(stdin io.Reader, stdout, stderr io.Writer) ([]*os.File, error) {
	files := make([]*os.File, 3)
	switch in := stdin.(type) {
	case nil:
	case *os.File:
		files[0] = in
	default:
		return nil, errors.New("stdin must be a file")
	}
	for i, w := range []io.Writer{stdout, stderr} {
		switch out := w.(type) {
		case nil:
		case *os.File:
			files[i+1] = out
		default:
			r, pw, err := os.Pipe()
			if err != nil {
				p.closeChildEnds()
				return nil, fmt.Errorf("output pipe: %w", err)
			}
			files[i+1] = pw
			p.childEnds = append(p.childEnds, pw)
			p.copies.Add(1)
			go func() {
				defer p.copies.Done()
				defer r.Close()
				_, _ = io.Copy(out, r)
			}()
		}
	}
	return files, nil
}

// closeChildEnds drops the hub's copies of the pipe ends the worker got:
// its copies reach EOF when the worker is gone.
func (p *proc) closeChildEnds() {
	for _, f := range p.childEnds {
		f.Close()
	}
	p.childEnds = nil
}

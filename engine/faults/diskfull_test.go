//go:build faults

package faults

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// diskSize is the small filesystem's size: room for Badger's sparse
// write-ahead log and value log, and for the headroom a store that guards
// against a full disk asks before it writes (128 MiB), little more.
const diskSize = "192m"

// diskFull runs a batch on a small tmpfs, fills the filesystem up in the
// middle of it, then frees the space: no crash (SIGBUS in Badger's mmap
// writes), lines that could not be done say so and are not "done", the
// batch either stays up and does the lines after the space returned or
// ends with exit 6 (store full), and nothing reported stored is lost.
func (s *suite) diskFull(ctx context.Context) {
	const kind = "diskfull"
	if os.Getuid() != 0 {
		s.skip(kind, "mounting a small tmpfs needs root; run the suite as root to inject a full disk")
		return
	}
	ms := modes()
	for n := 0; n < len(ms) || !ctxDone(ctx); n++ {
		m := ms[n%len(ms)]
		mnt := filepath.Join(s.root, fmt.Sprintf("disk-%d", n))
		if err := os.Mkdir(mnt, 0o755); err != nil {
			s.t.Fatal(err)
		}
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+diskSize+",mode=0755", "tmpfs", mnt).CombinedOutput(); err != nil {
			s.skip(kind, fmt.Sprintf("mount a %s tmpfs: %v: %s", diskSize, err, strings.TrimSpace(string(out))))
			return
		}
		s.trackMount(mnt, true)
		tr := s.newTrial(kind, n, m)
		setupFailed := !func() bool {
			// Unmounted even when the trial stops the test.
			defer s.unmount(mnt)
			return s.diskTrial(tr, mnt)
		}()
		tr.finish()
		if setupFailed {
			return // the next trial would fail the same way
		}
	}
}

func (s *suite) unmount(mnt string) {
	defer s.trackMount(mnt, false)
	if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
		// A worker may still hold it for a moment: detach it.
		if out2, err2 := exec.Command("umount", "-l", mnt).CombinedOutput(); err2 != nil {
			s.t.Errorf("diskfull: umount %s: %v: %s; %v: %s", mnt, err, out, err2, out2)
		}
	}
}

// diskTrial runs one trial; it reports false when the folder could not
// even be set up on the empty filesystem.
func (s *suite) diskTrial(tr *trial, mnt string) bool {
	const full, total = 10, 16 // lines while full; all lines
	h := s.newHistory(tr.mode, mnt)
	setup, _ := s.batch(tr, h, h.workload(4))
	if setup.exit != 0 {
		tr.what = "setting up the folder on the small filesystem"
		tr.fail("setup batch on an empty %s filesystem: %v: %s", diskSize, setup, firstLines(setup.stderr, 3))
		return false
	}
	s.verify(tr, h) // the baseline audit log, and a second batch

	// A third of the trials leave nothing free, a third up to 64 KiB, a
	// third about the 128 MiB a guarded store keeps in reserve.
	var slack int64
	switch tr.rng.IntN(3) {
	case 1:
		slack = int64(1+tr.rng.IntN(16)) * 4 << 10
	case 2:
		slack = 126<<20 + int64(tr.rng.IntN(1024))*4<<10
	}
	// Half fill the disk while lines run, half between two lines.
	concurrent := tr.rng.IntN(2) == 1
	tr.what = fmt.Sprintf("filesystem filled to %d KiB free in a batch (while lines run: %v), then emptied", slack>>10, concurrent)
	p := s.start(h.f, nil, "batch", "--policy", h.policy)
	defer p.kill(syscall.SIGKILL)
	before, during, after := h.workload(3), h.workload(full), h.workload(3)
	feed := func(text string) {
		// A batch that ended (exit 6 on a full store) takes no more input.
		if _, err := p.stdin.Write([]byte(text)); err != nil && !errors.Is(err, syscall.EPIPE) && !errors.Is(err, os.ErrClosed) {
			tr.fail("write to the batch: %v", err)
		}
	}
	feed(before)
	if !p.waitLines(3, time.Minute) {
		tr.fail("the batch did not do 3 lines in a minute on an empty filesystem")
	}
	filler := filepath.Join(mnt, "filler")
	if concurrent {
		feed(during)
	}
	if err := fill(filler, slack); err != nil {
		tr.fail("fill the filesystem: %v", err)
		return true
	}
	if !concurrent {
		feed(during)
	}
	fullEnded := !p.waitLines(3+full, time.Minute)
	select {
	case <-p.done:
	default:
		if fullEnded {
			tr.fail("the batch did not answer the lines on a full filesystem in a minute (hung)")
		}
	}
	if err := os.Remove(filler); err != nil {
		tr.fail("free the space: %v", err)
	}
	feed(after)
	p.stdin.Close()
	r, ended := p.wait(time.Minute)
	if !ended {
		tr.fail("the batch did not end a minute after its input did")
	}
	tr.crashCheck(r)
	lines := h.take(tr, r, false)
	stillUp := len(lines) >= total
	undone := len(lines) < total
	for i, l := range lines {
		if !Done(l.Status) {
			undone = true
			low := strings.ToLower(l.Raw)
			if i >= 3 && i < 3+full && !strings.Contains(low, "space") && !strings.Contains(low, "full") {
				tr.fail("line %s failed on the full filesystem without saying so: %.200s", l.ID, l.Error+" "+stepReasons(l))
			}
			if i >= 3+full {
				tr.fail("line %s after the space returned: %q: %.200s", l.ID, l.Status, l.Error+" "+stepReasons(l))
			}
		}
	}
	switch {
	case r.signaled != "":
		tr.wrong("%v on a full filesystem", r)
	case !stillUp && r.exit != 6:
		tr.wrong("%v after %d of %d lines: a batch that stops on a full store must exit 6: %s", r, len(lines), total, firstLines(r.stderr, 3))
	case undone && r.exit == 0:
		tr.wrong("%v though lines were not done", r)
	case stillUp && undone && r.exit != 3 && r.exit != 6 && r.exit != 1:
		tr.wrong("%v with lines not done: want 3 (partial), 6 (store full) or 1", r)
	}
	doneFull := 0
	for i, l := range lines {
		if i >= 3 && i < 3+full && Done(l.Status) {
			doneFull++
		}
	}
	tr.what += fmt.Sprintf(": %d of %d lines done while full", doneFull, full)
	if !stillUp {
		tr.what += fmt.Sprintf(" (the batch ended after %d lines: %v)", len(lines), r)
	}
	s.verify(tr, h)
	return true
}

// fill writes path until the filesystem is full, then gives back slack
// bytes.
func fill(path string, slack int64) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	var size int64
	for {
		n, err := f.Write(chunk)
		size += int64(n)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			return err
		}
	}
	for _, c := range []int{64 << 10, 4 << 10, 1} { // the last pages too
		for {
			n, err := f.Write(chunk[:c])
			size += int64(n)
			if err != nil {
				break
			}
		}
	}
	return f.Truncate(max(0, size-slack))
}

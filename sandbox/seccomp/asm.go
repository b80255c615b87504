package seccomp

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// asm assembles a BPF program whose conditional jumps name labels, so a
// check can be written in reading order without counting instructions.
// Jumps go forward only; "" means the next instruction.
type asm struct {
	ins    []bpf.Instruction
	jumps  []jump
	labels map[string]int
}

type jump struct {
	at   int
	t, f string
}

func newAsm() *asm { return &asm{labels: map[string]int{}} }

func (a *asm) add(ins ...bpf.Instruction) { a.ins = append(a.ins, ins...) }

// prologue starts every program: a call from another architecture or
// through the x32 ABI kills the process, clone3 fails with ENOSYS (its
// flags sit in memory a filter cannot read, so libraries fall back to
// clone, whose flags it can), and everything else goes on at next with
// the call's number loaded.
func (a *asm) prologue(next string) {
	a.add(bpf.LoadAbsolute{Off: offArch, Size: 4})
	a.jeq(auditArch, "arch.ok", "")
	a.add(retKill)
	a.label("arch.ok")
	a.add(bpf.LoadAbsolute{Off: offNr, Size: 4})
	a.jset(x32Bit, "", "x32.ok")
	a.add(retKill)
	a.label("x32.ok")
	a.jeq(syscallNumbers["clone3"], "", next)
	a.add(retNoSys)
}

func (a *asm) label(name string) { a.labels[name] = len(a.ins) }

// jeq jumps to t when A == val, else to f.
func (a *asm) jeq(val uint32, t, f string) { a.cond(bpf.JumpEqual, val, t, f) }

// jset jumps to t when A & mask != 0, else to f.
func (a *asm) jset(mask uint32, t, f string) { a.cond(bpf.JumpBitsSet, mask, t, f) }

func (a *asm) cond(c bpf.JumpTest, val uint32, t, f string) {
	a.jumps = append(a.jumps, jump{at: len(a.ins), t: t, f: f})
	a.ins = append(a.ins, bpf.JumpIf{Cond: c, Val: val})
}

func (a *asm) assemble() ([]bpf.RawInstruction, error) {
	for _, j := range a.jumps {
		ji := a.ins[j.at].(bpf.JumpIf)
		var err error
		if ji.SkipTrue, err = a.skip(j.at, j.t); err != nil {
			return nil, err
		}
		if ji.SkipFalse, err = a.skip(j.at, j.f); err != nil {
			return nil, err
		}
		a.ins[j.at] = ji
	}
	return bpf.Assemble(a.ins)
}

func (a *asm) skip(at int, label string) (uint8, error) {
	if label == "" {
		return 0, nil
	}
	to, ok := a.labels[label]
	if !ok {
		return 0, fmt.Errorf("assemble: no label %q", label)
	}
	d := to - at - 1
	if d < 0 || d > 255 {
		return 0, fmt.Errorf("assemble: jump from %d to %q (%d) out of range", at, label, to)
	}
	return uint8(d), nil
}

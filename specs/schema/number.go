package schema

import (
	"encoding/json"
	"strconv"
)

// decimal is a JSON number held exactly, so that enum and bound checks never
// round: its value is sign × 0.digits × 10^exp.
type decimal struct {
	neg    bool
	digits string // no leading or trailing zeros; "" is zero
	exp    int64
}

// maxExp bounds the exponent a number may spell out; far beyond float64, so
// anything it clips is refused as out of range anyway.
const maxExp = 1 << 40

// parseDecimal parses s by the JSON number grammar.
func parseDecimal(s string) (decimal, bool) {
	var d decimal
	i := 0
	if i < len(s) && s[i] == '-' {
		d.neg = true
		i++
	}
	start := i
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return decimal{}, false
	}
	intPart := s[start:i]
	fracPart := ""
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == fs {
			return decimal{}, false
		}
		fracPart = s[fs:i]
	}
	var e int64
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		es := i
		for i < len(s) && isDigit(s[i]) {
			if e < maxExp {
				e = e*10 + int64(s[i]-'0')
			}
			i++
		}
		if i == es {
			return decimal{}, false
		}
		if eneg {
			e = -e
		}
	}
	if i != len(s) {
		return decimal{}, false
	}
	mant := intPart + fracPart
	exp := int64(len(intPart)) + e
	for len(mant) > 0 && mant[0] == '0' {
		mant = mant[1:]
		exp--
	}
	for len(mant) > 0 && mant[len(mant)-1] == '0' {
		mant = mant[:len(mant)-1]
	}
	if mant == "" {
		return decimal{}, true
	}
	d.digits, d.exp = mant, exp
	return d, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (d decimal) sign() int {
	switch {
	case d.digits == "":
		return 0
	case d.neg:
		return -1
	default:
		return 1
	}
}

// cmpDecimal returns -1, 0 or 1 as a is less than, equal to or greater than b.
func cmpDecimal(a, b decimal) int {
	sa, sb := a.sign(), b.sign()
	if sa != sb {
		if sa < sb {
			return -1
		}
		return 1
	}
	if sa == 0 {
		return 0
	}
	m := cmpAbs(a, b)
	if sa < 0 {
		return -m
	}
	return m
}

func cmpAbs(a, b decimal) int {
	if a.exp != b.exp {
		if a.exp < b.exp {
			return -1
		}
		return 1
	}
	n := min(len(a.digits), len(b.digits))
	for i := range n {
		if a.digits[i] != b.digits[i] {
			if a.digits[i] < b.digits[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a.digits) < len(b.digits):
		return -1
	case len(a.digits) > len(b.digits):
		return 1
	}
	return 0
}

// checkNumber reports whether n is a JSON number that float64 can hold
// without overflow, and whether it is an integer in the schema's sense: no
// fraction, no exponent, fits int64.
func checkNumber(n json.Number) (d decimal, isInt bool, reason string) {
	d, ok := parseDecimal(string(n))
	if !ok {
		return decimal{}, false, "invalid number"
	}
	// ParseFloat errs only on overflow here: the syntax is checked, and it
	// rounds a tiny number to zero without complaint.
	if _, err := strconv.ParseFloat(string(n), 64); err != nil {
		return decimal{}, false, "number out of range"
	}
	_, err := strconv.ParseInt(string(n), 10, 64)
	return d, err == nil, ""
}

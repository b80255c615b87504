package strictjson

import "fmt"

// ValidEscapes refuses a \u escape in a JSON string that names half of a
// UTF-16 surrogate pair without its other half ("\ud800"). Such an escape
// is valid JSON syntax, but encoding/json turns it into U+FFFD, so the
// text a reader acts on is not the text that was written: the same loss
// the raw invalid UTF-8 that Value refuses would cause. Call it on bytes
// that Value or Unmarshal accepted; it reads only string escapes.
func ValidEscapes(data []byte) error {
	inString := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if !inString {
			if c == '"' {
				inString = true
			}
			continue
		}
		switch c {
		case '"':
			inString = false
		case '\\':
			if i+1 >= len(data) {
				return fmt.Errorf("escape at byte %d: %w", i, ErrSyntax)
			}
			if data[i+1] != 'u' {
				i++ // \" \\ \/ \b \f \n \r \t
				continue
			}
			r, ok := hex4(data, i+2)
			if !ok {
				return fmt.Errorf("escape at byte %d: %w", i, ErrSyntax)
			}
			switch {
			case r >= 0xDC00 && r <= 0xDFFF:
				return fmt.Errorf("escape at byte %d: lone low surrogate \\u%04x: %w", i, r, ErrInvalidUTF8)
			case r >= 0xD800 && r <= 0xDBFF:
				lo, ok := rune(0), i+11 < len(data) && data[i+6] == '\\' && data[i+7] == 'u'
				if ok {
					lo, ok = hex4(data, i+8)
				}
				if !ok || lo < 0xDC00 || lo > 0xDFFF {
					return fmt.Errorf("escape at byte %d: lone high surrogate \\u%04x: %w", i, r, ErrInvalidUTF8)
				}
				i += 11
			default:
				i += 5
			}
		}
	}
	return nil
}

// hex4 reads four hex digits at data[at:].
func hex4(data []byte, at int) (rune, bool) {
	if at+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[at : at+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

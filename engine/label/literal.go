package label

import (
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Literal labels a value the planner wrote into a plan (an argument or an
// agent task), given the query text it was shown and whether it was also
// shown the user's earlier queries.
//
// A string or a number is the user's (Query) only when its text occurs in
// the query exactly — byte for byte, with no case folding, width or space
// normalisation — and at word boundaries: a letter or digit at either end
// of the literal is not next to a letter or digit in the query ("10" is not
// in "100"). Any normalisation that maps two texts to one would let the
// planner pick among the variants (upper or lower case, one letter at a
// time) and carry whatever else it read in that choice.
//
// Everything else is the planner's: booleans, null, empty containers,
// object keys and strings it wrote or rephrased. Those get Planner, and
// Memory as well when the planner was shown memory: it may have carried
// an earlier query over, obfuscated or paraphrased, and no test on the
// text can rule that out. A container gets the labels of its parts.
func Literal(v any, query string, sawMemory bool) Set {
	var s Set
	planner := Of(Label{Kind: Planner})
	if sawMemory {
		planner = planner.Add(Label{Kind: Memory})
	}
	var walk func(v any)
	leaf := func(text string) {
		if Occurs(text, query) {
			s = s.Add(Label{Kind: Query})
		} else {
			s = s.Union(planner)
		}
	}
	walk = func(v any) {
		switch t := v.(type) {
		case string:
			leaf(t)
		case json.Number:
			leaf(t.String())
		case []any:
			if len(t) == 0 {
				s = s.Union(planner)
			}
			for _, item := range t {
				walk(item)
			}
		case map[string]any:
			if len(t) == 0 {
				s = s.Union(planner)
			}
			for k, item := range t {
				leaf(k)
				walk(item)
			}
		default:
			// bool, null, or anything else: nothing of it is in the query.
			s = s.Union(planner)
		}
	}
	walk(v)
	return s
}

// Occurs reports whether text occurs in query exactly and at word
// boundaries. The empty text never does.
func Occurs(text, query string) bool {
	if text == "" {
		return false
	}
	first, _ := utf8.DecodeRuneInString(text)
	last, _ := utf8.DecodeLastRuneInString(text)
	for off := 0; ; {
		i := strings.Index(query[off:], text)
		if i < 0 {
			return false
		}
		start, end := off+i, off+i+len(text)
		before, _ := utf8.DecodeLastRuneInString(query[:start])
		after, _ := utf8.DecodeRuneInString(query[end:])
		if !(wordRune(first) && start > 0 && wordRune(before)) && !(wordRune(last) && end < len(query) && wordRune(after)) {
			return true
		}
		_, size := utf8.DecodeRuneInString(query[start:])
		off = start + size
	}
}

func wordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

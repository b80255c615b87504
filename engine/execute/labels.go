package execute

import (
	"maps"
	"slices"
	"strings"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/label"
	"github.com/isolategpt/isolategpt/engine/untrusted"
	"github.com/isolategpt/isolategpt/specs/schema"
)

// flowSources lists the origins that make a step's arguments a data flow
// to dest, each asked about once: another app's output (by app.function),
// and the user's earlier queries. dest's own output is no flow into it
// (a write fed by it is warned on its exec prompt instead).
func flowSources(argLabels map[string]label.Set, dest string) []string {
	var out []string
	for _, ls := range argLabels {
		for _, l := range ls {
			var src string
			switch {
			case l.Kind == label.App && l.App != dest:
				src = l.Source()
			case l.Kind == label.Memory:
				src = OriginMemory
			default:
				continue
			}
			if !slices.Contains(out, src) {
				out = append(out, src)
			}
		}
	}
	slices.Sort(out)
	return out
}

// describeArgs lists a call's arguments for a prompt, each with its
// labels. An object (a file to attach) is shown field by field, so that
// its name is never cut off behind its content; a field name that is not
// an identifier is shown quoted.
func describeArgs(args map[string]any, labels map[string]label.Set) []msg.DataItem {
	var items []msg.DataItem
	for _, k := range slices.Sorted(maps.Keys(args)) {
		if obj, ok := args[k].(map[string]any); ok && len(obj) > 0 {
			for _, f := range slices.Sorted(maps.Keys(obj)) {
				items = append(items, item(k+"."+fieldName(f), obj[f], labels[k]))
			}
			continue
		}
		items = append(items, item(k, args[k], labels[k]))
	}
	return items
}

func fieldName(f string) string {
	if schema.ValidName(f) {
		return f
	}
	return untrusted.Quote(f, 40)
}

// item is one value of a prompt, rendered by the hub.
func item(name string, v any, ls label.Set) msg.DataItem {
	return msg.DataItem{Name: name, Value: PromptValue(v), Origin: strings.Join(ls.Sources(), ","), Labels: ls}
}

// carrying keeps the items whose labels include origin (OriginMemory, or
// an app.function).
func carrying(items []msg.DataItem, origin string) []msg.DataItem {
	var out []msg.DataItem
	for _, it := range items {
		if slices.Contains(it.Labels.Sources(), origin) {
			out = append(out, it)
		}
	}
	return out
}

// Describe lists a value for a prompt, all of it carrying labels: an
// object key by key (a key that is not an identifier shown quoted),
// anything else as one item named "value".
func Describe(v any, ls label.Set) []msg.DataItem {
	m, ok := v.(map[string]any)
	if !ok {
		return []msg.DataItem{item("value", v, ls)}
	}
	items := make([]msg.DataItem, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		items = append(items, item(fieldName(k), m[k], ls))
	}
	return items
}

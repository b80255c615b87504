package permission

import (
	"fmt"
	"slices"
	"strings"

	"github.com/isolategpt/isolategpt/actors/msg"
	"github.com/isolategpt/isolategpt/engine/label"
	"github.com/isolategpt/isolategpt/specs/schema"
)

// Warning is the hub's own warning for a prompt, computed from who chose
// the request, whether it is the plan's step, what it does and the labels
// of its values — never from the values' text. "" means no warning.
func Warning(p msg.Prompt) string { return warning(p, true) }

// warning is Warning with the rule for writes fed by app output switched
// on or off (the app_data_writes defence, checked by the manager).
func warning(p msg.Prompt, appDataWrites bool) string {
	if p.Kind == msg.Pin {
		return fmt.Sprintf("The MCP server of %s now reports tools that differ from the ones pinned when it first ran, and it has been stopped. "+
			"What changed is shown below as the server wrote it. Allow to pin the new tools and run it; deny to keep it stopped.", p.App)
	}
	if p.ChosenBy != "" || !p.InPlan {
		return chosenByApp(p)
	}
	switch {
	case p.Kind == msg.Data && p.Origin != "" && p.Origin != string(label.Query):
		return Flow(p) + "."
	case p.Kind == msg.Exec && p.Effect == "write" && appDataWrites:
		if names, apps := fedByApps(p.Data); len(names) > 0 {
			return fmt.Sprintf("The values of %s come from app output (%s), not from your query: check them before this action runs.",
				strings.Join(names, ", "), strings.Join(apps, ", "))
		}
	}
	return ""
}

// chosenByApp words the warning for a request the plan did not make as
// written: an app's spoke, assistant or ISC request chose it.
func chosenByApp(p msg.Prompt) string {
	who := p.ChosenBy
	switch {
	case who == "" && p.Kind == msg.Collab:
		who = p.Requester
	case who == "":
		return fmt.Sprintf("%s is not part of the plan for your query.", p.Target())
	}
	switch p.Kind {
	case msg.Collab:
		w := fmt.Sprintf("%s asks to run %s; your plan did not ask for this call, and the arguments %s chose may carry anything it has read.", who, p.Target(), who)
		if p.Effect == "write" {
			w += " The action changes something."
		}
		return w
	case msg.Data:
		return fmt.Sprintf("%s; %s asked for it, not your plan.", Flow(p), who)
	}
	return fmt.Sprintf("%s's assistant chose to run %s and its arguments itself, after reading the app's data; your plan did not name this action.", who, p.Target())
}

// fedByApps lists the arguments (their top-level names, which the hub
// checked against the function's schema) whose values carry app output,
// and those apps' functions.
func fedByApps(items []msg.DataItem) (names, sources []string) {
	for _, d := range items {
		if !d.Labels.FromApps() {
			continue
		}
		name, _, _ := strings.Cut(d.Name, ".")
		if schema.ValidName(name) && !slices.Contains(names, name) {
			names = append(names, name)
		}
		for _, l := range d.Labels {
			if l.Kind == label.App && !slices.Contains(sources, l.Source()) {
				sources = append(sources, l.Source())
			}
		}
	}
	if len(names) == 0 && len(sources) > 0 {
		names = []string{"its arguments"}
	}
	slices.Sort(sources)
	return names, sources
}

// Flow says, in the hub's words, where a data flow's values come from and
// where they would go: "Data produced by drive.retrieve (app drive) would be
// given to mail.send (app mail)". Every name in it is an identifier the hub
// checked; nothing an app wrote.
func Flow(p msg.Prompt) string {
	return fmt.Sprintf("%s would be given to %s", source(p.Origin), Destination(p))
}

func source(origin string) string {
	switch origin {
	case "", string(label.Query):
		return "Data from your query"
	case string(label.Planner):
		return "Data the planner wrote"
	case string(label.Memory):
		return "Data the planner wrote, not found in your query and possibly carried over from your earlier queries,"
	}
	app, fn, _ := strings.Cut(origin, ".")
	if fn == label.Assistant || fn == "" {
		return fmt.Sprintf("Data produced by the app %s's assistant", app)
	}
	return fmt.Sprintf("Data produced by %s (app %s)", origin, app)
}

// Destination names who would receive a flow: a function of an app, or an
// app's assistant (its agent loop), which may use the data in any of its
// app's functions.
func Destination(p msg.Prompt) string {
	if p.Function == "" || p.Function == label.Assistant {
		return fmt.Sprintf("the app %s's assistant, which may use it in any of %s's functions", p.App, p.App)
	}
	return fmt.Sprintf("%s (app %s)", p.Target(), p.App)
}

// Origins says in the hub's words where a value came from, for a prompt:
// "your query", "the planner (not in your query)", or the app functions
// whose output it carries — then it is app-authored, whatever else it
// was computed from.
func Origins(ls label.Set) string {
	if ls.FromApps() {
		s := strings.Join(AppSources(ls), " + ") + " — app-authored, untrusted"
		if ls.Has(label.Memory) {
			s += "; may carry your earlier queries"
		}
		return s
	}
	var parts []string
	if ls.Has(label.Query) {
		parts = append(parts, "your query")
	}
	switch {
	case ls.Has(label.Planner) && ls.Has(label.Memory):
		parts = append(parts, "the planner, who also saw your earlier queries")
	case ls.Has(label.Planner):
		parts = append(parts, "the planner (not in your query)")
	case ls.Has(label.Memory):
		parts = append(parts, "your earlier queries")
	}
	if len(parts) == 0 {
		return "unknown"
	}
	return strings.Join(parts, " + ")
}

// AppSources lists the app functions ("app.function", "app.*" for an
// assistant) whose output is in ls, each once.
func AppSources(ls label.Set) []string {
	var out []string
	for _, l := range ls {
		if l.Kind == label.App && !slices.Contains(out, l.Source()) {
			out = append(out, l.Source())
		}
	}
	return out
}

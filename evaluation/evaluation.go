// Package evaluation measures isolategpt's security and functionality
// claims against the non-isolated baseline (engine/vanilla): the attack
// suite (scenarios/*.json, run under the compromised-LLM adversary with
// simulated users), the functionality suite (functionality/*.json, benign
// queries with expected outcomes) and the original's case studies
// (casestudies/*.json). Every run starts from a fresh data folder, so two
// runs give the same tables.
package evaluation

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/isolategpt/isolategpt/evaluation/scenario"
)

//go:embed scenarios/*.json functionality/*.json casestudies/*.json
var data embed.FS

// Scenarios returns the attack scenarios shipped in the binary, by id.
func Scenarios() ([]*scenario.Scenario, error) {
	names, err := fs.Glob(data, "scenarios/*.json")
	if err != nil {
		return nil, err
	}
	var out []*scenario.Scenario
	for _, name := range names {
		b, err := data.ReadFile(name)
		if err != nil {
			return nil, err
		}
		s, err := scenario.Parse(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if want := strings.TrimSuffix(path.Base(name), ".json"); s.ID != want {
			return nil, fmt.Errorf("%s: id %q does not match the file name", name, s.ID)
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *scenario.Scenario) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// CaseStudies returns the original's case studies shipped in the binary
// (evaluation/casestudies, written with issue 4's apps).
func CaseStudies() ([]*CaseStudy, error) {
	sub, err := fs.Sub(data, "casestudies")
	if err != nil {
		return nil, err
	}
	return LoadCaseStudiesFS(sub)
}

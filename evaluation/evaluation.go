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
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/isolategpt/isolategpt/evaluation/scenario"
)

//go:embed scenarios/*.json functionality/*.json casestudies/*.json
var data embed.FS

// Scenarios returns the attack scenarios shipped in the binary, by id.
func Scenarios() ([]*scenario.Scenario, error) {
	sub, err := fs.Sub(data, "scenarios")
	if err != nil {
		return nil, err
	}
	return LoadScenariosFS(sub)
}

// LoadScenarios reads every *.json scenario in dir: scenarios written
// outside the project, such as the adaptive search's reproducers.
func LoadScenarios(dir string) ([]*scenario.Scenario, error) {
	return LoadScenariosFS(os.DirFS(dir))
}

// LoadScenariosFS reads every *.json scenario at the top of fsys, by id;
// each file is named after its scenario's id.
func LoadScenariosFS(fsys fs.FS) ([]*scenario.Scenario, error) {
	names, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, errors.New("no scenario file (*.json) found")
	}
	var out []*scenario.Scenario
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
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

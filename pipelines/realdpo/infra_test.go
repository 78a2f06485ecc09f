package main

import (
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// infraDir is the repository's infra/ from this package's directory.
const infraDir = "../../infra"

// TestInfraFiles parses every JSON and YAML file under infra/ and checks
// that each flex template's parameters are real flags of its subcommand.
func TestInfraFiles(t *testing.T) {
	var n int
	err := filepath.WalkDir(infraDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch filepath.Ext(p) {
		case ".json":
			n++
			var v any
			if err := json.Unmarshal(data, &v); err != nil {
				t.Errorf("%s: %v", p, err)
			}
		case ".yaml", ".yml":
			n++
			dec := yaml.NewDecoder(strings.NewReader(string(data)))
			for docs := 0; ; docs++ {
				var v map[string]any
				if err := dec.Decode(&v); err == io.EOF {
					if docs == 0 {
						t.Errorf("%s: no documents", p)
					}
					break
				} else if err != nil {
					t.Errorf("%s: %v", p, err)
					break
				}
				if v["apiVersion"] == nil || v["kind"] == nil {
					t.Errorf("%s: document %d has no apiVersion/kind", p, docs)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Fatalf("only %d JSON/YAML files under %s", n, infraDir)
	}
	for _, name := range []string{"curate", "refresh"} {
		data, err := os.ReadFile(filepath.Join(infraDir, "dataflow", name+"-metadata.json"))
		if err != nil {
			t.Fatal(err)
		}
		var md struct {
			Name       string
			Parameters []struct {
				Name       string
				IsOptional bool
			}
		}
		if err := json.Unmarshal(data, &md); err != nil {
			t.Fatal(err)
		}
		fs := flag.NewFlagSet(name, flag.ContinueOnError)
		subcommands[name].Flags(fs)
		for _, p := range md.Parameters {
			if fs.Lookup(p.Name) == nil && flag.CommandLine.Lookup(p.Name) == nil {
				t.Errorf("%s template parameter %q is not a flag of realdpo %s", name, p.Name, name)
			}
		}
	}
	// The scheduler body launches parameters the refresh template declares.
	var body struct {
		LaunchParameter struct{ Parameters map[string]string }
	}
	data, _ := os.ReadFile(filepath.Join(infraDir, "schedule", "scheduler-refresh.json"))
	if err := json.Unmarshal(data, &body); err != nil || len(body.LaunchParameter.Parameters) == 0 {
		t.Fatalf("scheduler body: %v", err)
	}
	fs := flag.NewFlagSet("refresh", flag.ContinueOnError)
	subcommands["refresh"].Flags(fs)
	for k := range body.LaunchParameter.Parameters {
		if fs.Lookup(k) == nil {
			t.Errorf("scheduler parameter %q is not a refresh flag", k)
		}
	}
}

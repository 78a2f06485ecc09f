package model

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func sameParams(t *testing.T, what string, a, b *Model) {
	t.Helper()
	for i, p := range a.params {
		q := b.params[i]
		if p.Name != q.Name || !reflect.DeepEqual(p.Shape, q.Shape) {
			t.Fatalf("%s: tensor %d is %s %v vs %s %v", what, i, p.Name, p.Shape, q.Name, q.Shape)
		}
		for j := range p.Data {
			if p.Data[j] != q.Data[j] { // bit-exact, not approximately equal
				t.Fatalf("%s: %s[%d] = %g vs %g", what, p.Name, j, p.Data[j], q.Data[j])
			}
		}
	}
}

func TestCheckpointRoundTripBitExact(t *testing.T) {
	pol := testModel(t, 20)
	o := DefaultDPOTrainOptions()
	o.EMAEvery = 1
	tr, err := NewTrainer(pol, pol.Clone(), o)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tr.DPOStep(dpoExample(newRNG(20), pol.cfg, 2)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ck.safetensors")
	if err := tr.Save(path, map[string]string{"note": "test"}); err != nil {
		t.Fatal(err)
	}
	ck, err := LoadCheckpoint(path, &pol.cfg)
	if err != nil {
		t.Fatal(err)
	}
	sameParams(t, "policy", pol, ck.Model)
	sameParams(t, "reference", tr.Ref, ck.Ref)
	if ck.Step != 1 || ck.Opt.Step != 1 || ck.Meta["note"] != "test" || *ck.Train != o {
		t.Fatalf("step %d/%d meta %v train %+v", ck.Step, ck.Opt.Step, ck.Meta, ck.Train)
	}
	if !reflect.DeepEqual(ck.Opt.M, tr.Opt.M) || !reflect.DeepEqual(ck.Opt.V, tr.Opt.V) || ck.Opt.LR != tr.Opt.LR {
		t.Fatal("optimiser state differs after reload")
	}
	// Weights-only save: the base-model format.
	p2 := filepath.Join(t.TempDir(), "w.safetensors")
	if err := pol.Save(p2, nil); err != nil {
		t.Fatal(err)
	}
	m, err := LoadModel(p2)
	if err != nil {
		t.Fatal(err)
	}
	sameParams(t, "weights only", pol, m)
	if entries, _ := os.ReadDir(filepath.Dir(p2)); len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestCheckpointRejectsBadFiles(t *testing.T) {
	m := testModel(t, 21)
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	if err := m.Save(path, nil); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	other := Tiny()
	if _, err := LoadCheckpoint(path, &other); err == nil || !strings.Contains(err.Error(), "differs") {
		t.Fatalf("config mismatch: %v", err)
	}
	hl := binary.LittleEndian.Uint64(good[:8])
	header := string(good[8 : 8+hl])
	cases := map[string][]byte{
		"truncated":   good[:len(good)-4],
		"short":       good[:5],
		"huge header": append([]byte{255, 255, 255, 255, 0, 0, 0, 0}, good[8:]...),
	}
	mutate := func(old, new string) []byte {
		h := strings.Replace(header, old, new, 1)
		out := make([]byte, 8, len(good)+16)
		binary.LittleEndian.PutUint64(out, uint64(len(h)))
		return append(append(out, h...), good[8+hl:]...)
	}
	cases["shape"] = mutate(`"shape":[96,16]`, `"shape":[16,96]`) // patch_embed.weight
	cases["dtype"] = mutate(`"dtype":"F32"`, `"dtype":"F16"`)
	cases["config"] = mutate(`\"dim\":16`, `\"dim\":17`)
	cases["format"] = mutate(`realdpo-model/1`, `realdpo-model/9`)
	cases["extra tensor"] = mutate(`"__metadata__"`, `"zzz":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"__metadata__"`)
	cases["missing tensor"] = mutate(`"pos_embed"`, `"pos_embedding"`)
	for name, b := range cases {
		if string(b) == string(good) {
			t.Errorf("%s: mutation did not apply", name)
			continue
		}
		if _, err := ParseCheckpoint(b, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// Resuming from a checkpoint gives exactly the step that not stopping gives.
func TestResumeGivesSameNextStep(t *testing.T) {
	c := testConfig()
	rng := newRNG(22)
	ex := dpoExample(rng, c, 2)
	clips := []Clip{{Video: randVideo(rng, c), Caption: "a"}, {Video: randVideo(rng, c), Caption: "b"}}
	for _, mode := range []string{"sft", "dpo"} {
		pol := testModel(t, 23)
		var ref *Model
		o := DefaultSFTOptions()
		if mode == "dpo" {
			ref = pol.Clone()
			o = DefaultDPOTrainOptions()
			o.EMAEvery, o.LR = 2, 1e-3
		}
		tr, err := NewTrainer(pol, ref, o)
		if err != nil {
			t.Fatal(err)
		}
		step := func(tr *Trainer) {
			t.Helper()
			var err error
			if mode == "dpo" {
				_, _, err = tr.DPOStep(ex)
			} else {
				_, _, err = tr.SFTStep(clips)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < 3; i++ {
			step(tr)
		}
		path := filepath.Join(t.TempDir(), "resume.safetensors")
		if err := tr.Save(path, nil); err != nil {
			t.Fatal(err)
		}
		step(tr) // the uninterrupted run's 4th step (an EMA step for dpo)
		re, err := ResumeTrainer(path)
		if err != nil {
			t.Fatal(err)
		}
		step(re)
		sameParams(t, mode+" policy", tr.Policy, re.Policy)
		if ref != nil {
			sameParams(t, mode+" reference", tr.Ref, re.Ref)
		}
		if re.Step() != 4 || !reflect.DeepEqual(re.Opt.M, tr.Opt.M) {
			t.Fatalf("%s: resumed step %d or moments differ", mode, re.Step())
		}
	}
}

// The file follows the safetensors rules that PyTorch's loader enforces:
// an 8-byte little-endian header length, a JSON object whose string-only
// __metadata__ and tensor entries cover the data section exactly, without
// gaps or overlap, in order.
func TestCheckpointIsSafetensors(t *testing.T) {
	m := testModel(t, 24)
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := m.Save(path, map[string]string{"command": "test"}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	hl := binary.LittleEndian.Uint64(b[:8])
	if (8+hl)%8 != 0 || b[8] != '{' {
		t.Fatalf("header length %d or start %q", hl, b[8])
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+hl], &raw); err != nil {
		t.Fatal(err)
	}
	var meta map[string]string
	if err := json.Unmarshal(raw["__metadata__"], &meta); err != nil {
		t.Fatalf("metadata is not string to string: %v", err)
	}
	delete(raw, "__metadata__")
	var spans [][2]int64
	for _, r := range raw {
		var e stEntry
		if err := json.Unmarshal(r, &e); err != nil {
			t.Fatal(err)
		}
		if e.Offsets[1]-e.Offsets[0] != int64(shapeSize(e.Shape))*4 {
			t.Fatalf("entry %+v size mismatch", e)
		}
		spans = append(spans, e.Offsets)
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i][0] < spans[j][0] })
	var end int64
	for _, s := range spans {
		if s[0] != end {
			t.Fatalf("gap or overlap at %d", s[0])
		}
		end = s[1]
	}
	if end != int64(len(b))-8-int64(hl) || len(raw) != len(m.params) {
		t.Fatalf("tensors cover %d of %d data bytes", end, int64(len(b))-8-int64(hl))
	}
}

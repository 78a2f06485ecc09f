package model

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"syscall"
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

// A checkpoint header that claims a huge model is refused before anything
// is sized by it (it used to end in "fatal error: out of memory" in train
// --init, train resume, eval --models and negatives --model, which all load
// through LoadCheckpoint); so are files that are not regular files.
func TestCheckpointHugeConfigRefused(t *testing.T) {
	m := testModel(t, 61)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	if err := m.Save(good, nil); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*Config){
		"vocab 2^31":      func(c *Config) { c.Vocab = 1 << 31 },
		"train_steps 2e9": func(c *Config) { c.TrainSteps = 2e9 },
		"dim 16384":       func(c *Config) { c.Dim, c.Heads = 16384, 16 },
		"dim 4096 depth 64, within each field's limit": func(c *Config) {
			c.Dim, c.Depth, c.Heads = 4096, 64, 16
		},
		"dim 1024, more weights than the file holds": func(c *Config) { c.Dim, c.Heads = 1024, 16 },
	} {
		t.Run(name, func(t *testing.T) {
			c := m.cfg
			edit(&c)
			b := rewriteConfig(t, raw, c)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := ParseCheckpoint(b, nil)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("accepted")
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
				t.Errorf("allocated %d MB before refusing", grew>>20)
			}
			t.Log(err)
		})
	}
	fifo := filepath.Join(dir, "fifo.safetensors")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, "/dev/zero"} {
		if _, err := LoadCheckpoint(p, nil); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// rewriteConfig replaces the config in a checkpoint's header.
func rewriteConfig(t *testing.T, raw []byte, c Config) []byte {
	t.Helper()
	hl := binary.LittleEndian.Uint64(raw[:8])
	var header map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+hl], &header); err != nil {
		t.Fatal(err)
	}
	var meta map[string]string
	if err := json.Unmarshal(header["__metadata__"], &meta); err != nil {
		t.Fatal(err)
	}
	cj, _ := json.Marshal(c)
	meta["config"] = string(cj)
	mj, _ := json.Marshal(meta)
	header["__metadata__"] = mj
	hb, _ := json.Marshal(header)
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(hb)))
	out = append(out, hb...)
	return append(out, raw[8+hl:]...)
}

package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// Checkpoint layout (safetensors, readable by safetensors.torch.load_file):
//
//	<param name>                      model weights, F32, e.g. "blocks.0.spatial.q.weight"
//	reference.<param name>            the DPO reference model (optional)
//	optimizer.exp_avg.<param name>    AdamW first moment (optional)
//	optimizer.exp_avg_sq.<param name> AdamW second moment (optional)
//
// Metadata (all strings, as safetensors requires):
//
//	format        "realdpo-model/1"
//	config        the Config as JSON
//	step          optimiser updates taken
//	optimizer     AdamW hyper-parameters as JSON (when optimiser state is saved)
//	train_options TrainOptions as JSON (when saved from a Trainer)
//	plus any caller-supplied entries (e.g. the command that produced it).
//
// Linear weights are [in, out]; transpose for torch.nn.Linear.
const checkpointFormat = "realdpo-model/1"

const (
	refPrefix = "reference."
	expAvg    = "optimizer.exp_avg."
	expAvgSq  = "optimizer.exp_avg_sq."
)

// Checkpoint is everything a file can hold.
type Checkpoint struct {
	Model *Model
	Ref   *Model // optional
	Opt   *AdamW // optional; Step is Opt.Step when present
	Train *TrainOptions
	Step  int
	Meta  map[string]string // extra metadata
}

type stEntry struct {
	DType   string   `json:"dtype"`
	Shape   []int    `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

// Save writes ck to path atomically (temporary file, fsync, rename).
func (ck *Checkpoint) Save(path string) error {
	if ck.Model == nil {
		return errors.New("model: checkpoint without a model")
	}
	meta := map[string]string{}
	for k, v := range ck.Meta {
		meta[k] = v
	}
	meta["format"] = checkpointFormat
	meta["config"] = ck.Model.cfg.JSON()
	step := ck.Step
	type named struct {
		name string
		p    *Param
		data []float32
	}
	var ts []named
	for _, p := range ck.Model.params {
		ts = append(ts, named{p.Name, p, p.Data})
	}
	if ck.Ref != nil {
		if ck.Ref.cfg != ck.Model.cfg {
			return errors.New("model: checkpoint reference config differs from model")
		}
		for _, p := range ck.Ref.params {
			ts = append(ts, named{refPrefix + p.Name, p, p.Data})
		}
	}
	if ck.Opt != nil {
		if len(ck.Opt.M) != len(ck.Model.params) || len(ck.Opt.V) != len(ck.Model.params) {
			return errors.New("model: checkpoint optimiser state does not match the model")
		}
		for i, p := range ck.Model.params {
			ts = append(ts, named{expAvg + p.Name, p, ck.Opt.M[i]}, named{expAvgSq + p.Name, p, ck.Opt.V[i]})
		}
		hp := *ck.Opt
		hp.M, hp.V = nil, nil
		b, err := json.Marshal(hp)
		if err != nil {
			return fmt.Errorf("model: encoding optimiser settings: %w", err)
		}
		meta["optimizer"] = string(b)
		step = ck.Opt.Step
	}
	if ck.Train != nil {
		b, err := json.Marshal(ck.Train)
		if err != nil {
			return fmt.Errorf("model: encoding train options: %w", err)
		}
		meta["train_options"] = string(b)
	}
	meta["step"] = strconv.Itoa(step)

	header := map[string]any{"__metadata__": meta}
	var off int64
	for _, t := range ts {
		if len(t.data) != shapeSize(t.p.Shape) {
			return fmt.Errorf("model: tensor %s has %d values for shape %v", t.name, len(t.data), t.p.Shape)
		}
		n := int64(len(t.data)) * 4
		header[t.name] = stEntry{DType: "F32", Shape: t.p.Shape, Offsets: [2]int64{off, off + n}}
		off += n
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("model: encoding safetensors header: %w", err)
	}
	for len(hb)%8 != 0 { // align the data section, as the format recommends
		hb = append(hb, ' ')
	}
	var buf bytes.Buffer
	buf.Grow(8 + len(hb) + int(off))
	binary.Write(&buf, binary.LittleEndian, uint64(len(hb)))
	buf.Write(hb)
	b4 := make([]byte, 4)
	for _, t := range ts {
		for _, v := range t.data {
			binary.LittleEndian.PutUint32(b4, math.Float32bits(v))
			buf.Write(b4)
		}
	}
	return writeAtomic(path, buf.Bytes())
}

// writeAtomic writes data to a temporary file beside path, syncs it and
// renames it into place, so readers never see a partial checkpoint.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("model: creating temporary checkpoint in %s: %w", dir, err)
	}
	// CreateTemp makes 0600 files; datasets and checkpoints are shared.
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("model: writing checkpoint %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("model: writing checkpoint %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("model: renaming checkpoint into %s: %w", path, err)
	}
	return nil
}

// LoadCheckpoint reads a checkpoint file. If want is non-nil the stored
// config must equal it.
func LoadCheckpoint(path string, want *Config) (*Checkpoint, error) {
	b, err := readCheckpointFile(path)
	if err != nil {
		return nil, err
	}
	ck, err := ParseCheckpoint(b, want)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ck, nil
}

// maxCheckpointBytes bounds what LoadCheckpoint reads: a model of maxParams
// with its reference and optimiser state (four copies).
const maxCheckpointBytes = 4*4*maxParams + 100<<20

// readCheckpointFile reads a regular file of at most maxCheckpointBytes (a
// FIFO or /dev/zero named as a checkpoint is refused, not read forever).
func readCheckpointFile(path string) ([]byte, error) {
	// Non-blocking, so that opening a FIFO returns at once for the check
	// below instead of waiting for a writer.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("model: reading checkpoint: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("model: reading checkpoint: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("model: checkpoint %s is not a regular file (%s)", path, st.Mode().Type())
	}
	if st.Size() > maxCheckpointBytes {
		return nil, fmt.Errorf("model: checkpoint %s is %d bytes, more than the limit %d", path, st.Size(), int64(maxCheckpointBytes))
	}
	b, err := io.ReadAll(io.LimitReader(f, st.Size()+1))
	if err != nil {
		return nil, fmt.Errorf("model: reading checkpoint %s: %w", path, err)
	}
	if int64(len(b)) != st.Size() {
		return nil, fmt.Errorf("model: checkpoint %s changed size while being read", path)
	}
	return b, nil
}

// LoadModel reads only the model weights of a checkpoint.
func LoadModel(path string) (*Model, error) {
	ck, err := LoadCheckpoint(path, nil)
	if err != nil {
		return nil, err
	}
	return ck.Model, nil
}

// ParseCheckpoint decodes checkpoint bytes, validating the header, every
// tensor's dtype, shape and extent, and the config.
func ParseCheckpoint(b []byte, want *Config) (*Checkpoint, error) {
	if len(b) < 8 {
		return nil, errors.New("model: checkpoint too short")
	}
	hl := binary.LittleEndian.Uint64(b[:8])
	if hl > 100<<20 || hl > uint64(len(b)-8) {
		return nil, fmt.Errorf("model: checkpoint header length %d invalid for a %d-byte file", hl, len(b))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+hl], &raw); err != nil {
		return nil, fmt.Errorf("model: checkpoint header: %w", err)
	}
	data := b[8+hl:]
	var meta map[string]string
	if m, ok := raw["__metadata__"]; ok {
		if err := json.Unmarshal(m, &meta); err != nil {
			return nil, fmt.Errorf("model: checkpoint metadata: %w", err)
		}
		delete(raw, "__metadata__")
	}
	if meta["format"] != checkpointFormat {
		return nil, fmt.Errorf("model: checkpoint format %q, want %q", meta["format"], checkpointFormat)
	}
	var cfg Config
	dec := json.NewDecoder(strings.NewReader(meta["config"]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("model: checkpoint config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("model: checkpoint config: %w", err)
	}
	if want != nil && *want != cfg {
		return nil, fmt.Errorf("model: checkpoint config %s differs from the expected %s", cfg.JSON(), want.JSON())
	}
	// The weights alone must fit in the file before anything is allocated
	// for them.
	if need := cfg.ParamCount() * 4; need > int64(len(data)) {
		return nil, fmt.Errorf("model: checkpoint config needs %d bytes of weights, the file holds %d", need, len(data))
	}
	step, err := strconv.Atoi(meta["step"])
	if err != nil || step < 0 {
		return nil, fmt.Errorf("model: checkpoint step %q invalid", meta["step"])
	}
	entries := map[string]stEntry{}
	for name, r := range raw {
		var e stEntry
		if err := json.Unmarshal(r, &e); err != nil {
			return nil, fmt.Errorf("model: checkpoint tensor %s: %w", name, err)
		}
		entries[name] = e
	}
	read := func(name string, shape []int, dst []float32) (bool, error) {
		e, ok := entries[name]
		if !ok {
			return false, nil
		}
		delete(entries, name)
		if e.DType != "F32" {
			return false, fmt.Errorf("model: checkpoint tensor %s has dtype %s, want F32", name, e.DType)
		}
		if !equalInts(e.Shape, shape) {
			return false, fmt.Errorf("model: checkpoint tensor %s has shape %v, want %v", name, e.Shape, shape)
		}
		lo, hi := e.Offsets[0], e.Offsets[1]
		if lo < 0 || hi < lo || hi > int64(len(data)) || hi-lo != int64(len(dst))*4 {
			return false, fmt.Errorf("model: checkpoint tensor %s has bad offsets %v", name, e.Offsets)
		}
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[lo+int64(i)*4:]))
		}
		return true, checkFinite("checkpoint tensor "+name, dst)
	}
	m, err := New(cfg, 0)
	if err != nil {
		return nil, err
	}
	ck := &Checkpoint{Model: m, Step: step, Meta: meta}
	for _, p := range m.params {
		ok, err := read(p.Name, p.Shape, p.Data)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("model: checkpoint lacks tensor %s", p.Name)
		}
	}
	if hasPrefix(entries, refPrefix) {
		ck.Ref = m.Clone()
		for _, p := range ck.Ref.params {
			if ok, err := read(refPrefix+p.Name, p.Shape, p.Data); err != nil || !ok {
				return nil, fmt.Errorf("model: checkpoint reference tensor %s: missing or invalid (%v)", p.Name, err)
			}
		}
	}
	if hasPrefix(entries, "optimizer.") {
		opt := &AdamW{}
		if err := json.Unmarshal([]byte(meta["optimizer"]), opt); err != nil {
			return nil, fmt.Errorf("model: checkpoint optimizer settings: %w", err)
		}
		opt.M, opt.V = nil, nil
		for _, p := range m.params {
			mm, vv := make([]float32, len(p.Data)), make([]float32, len(p.Data))
			ok1, err1 := read(expAvg+p.Name, p.Shape, mm)
			ok2, err2 := read(expAvgSq+p.Name, p.Shape, vv)
			if err := errors.Join(err1, err2); err != nil || !ok1 || !ok2 {
				return nil, fmt.Errorf("model: checkpoint optimizer state for %s: missing or invalid (%v)", p.Name, err)
			}
			opt.M, opt.V = append(opt.M, mm), append(opt.V, vv)
		}
		if opt.Step != step {
			return nil, fmt.Errorf("model: checkpoint step %d differs from optimizer step %d", step, opt.Step)
		}
		ck.Opt = opt
	}
	if s, ok := meta["train_options"]; ok {
		var to TrainOptions
		if err := json.Unmarshal([]byte(s), &to); err != nil {
			return nil, fmt.Errorf("model: checkpoint train options: %w", err)
		}
		ck.Train = &to
	}
	if len(entries) > 0 {
		var extra []string
		for k := range entries {
			extra = append(extra, k)
		}
		sort.Strings(extra)
		return nil, fmt.Errorf("model: checkpoint has unknown tensors %v", extra)
	}
	return ck, nil
}

func hasPrefix(m map[string]stEntry, p string) bool {
	for k := range m {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// SaveModel writes only the weights (the base-model format).
func (m *Model) Save(path string, meta map[string]string) error {
	return (&Checkpoint{Model: m, Meta: meta}).Save(path)
}

// Save writes the trainer's full state (policy, reference, optimiser, step
// and options) for exact resume.
func (tr *Trainer) Save(path string, meta map[string]string) error {
	o := tr.Opts
	return (&Checkpoint{Model: tr.Policy, Ref: tr.Ref, Opt: tr.Opt, Train: &o, Meta: meta}).Save(path)
}

// ResumeTrainer rebuilds a Trainer from a checkpoint written by
// Trainer.Save; continuing it gives the same steps as never stopping.
func ResumeTrainer(path string) (*Trainer, error) {
	ck, err := LoadCheckpoint(path, nil)
	if err != nil {
		return nil, err
	}
	if ck.Opt == nil || ck.Train == nil {
		return nil, fmt.Errorf("model: %s holds no optimiser state to resume from", path)
	}
	tr, err := NewTrainer(ck.Model, ck.Ref, *ck.Train)
	if err != nil {
		return nil, err
	}
	tr.Opt = ck.Opt
	return tr, nil
}

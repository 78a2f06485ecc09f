package curate

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"realdpo/pipelines/pipetest"
	"realdpo/schemas"
	"realdpo/transforms/dataset"
)

// TestCurateHostileCorpus runs curate over files built to hurt it: huge
// declared dimensions, endless streams (a FIFO, /dev/zero), malformed
// containers, and good footage under names full of shell and ffmpeg
// metacharacters. The run completes, good footage under any name is
// accepted, everything else is rejected with a reason, and no name is ever
// executed or read as an option or protocol.
func TestCurateHostileCorpus(t *testing.T) {
	in := t.TempDir()
	cwd, _ := os.Getwd()
	data := pipetest.GoodClip(t)
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(in, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	accept := []string{
		"$(touch pwned).mp4", "`touch pwned`.mp4", "a;touch pwned;.mp4", "x|touch pwned.mp4", "it's \"quoted\".mp4",
		"-y", "-i.mp4", "pipe:0", "file:good.mp4", "subfile,,start,0,end,100,,:good.mp4", "concat:a|b.mp4",
		"%d%s%n.mp4", "*.mp4", "[ab].mp4", "new\nline.mp4", "tab\there.mp4", "ünïcödé 🎥.mp4", "..mp4",
	}
	for _, n := range accept {
		write(n, data)
	}
	reject := map[string][]string{}
	// Huge declared dimensions, with almost no data behind them.
	write("huge.y4m", []byte("YUV4MPEG2 W100000 H100000 F25:1 Ip A1:1 C420jpeg\nFRAME\n\x10\x10\x10"))
	reject["huge.y4m"] = []string{schemas.ReasonTooLarge, schemas.ReasonNotVideo, schemas.ReasonTruncated}
	write("wide.y4m", append([]byte("YUV4MPEG2 W65536 H16 F25:1 Ip A1:1 C420jpeg\n"), make([]byte, 0)...))
	reject["wide.y4m"] = []string{schemas.ReasonTooLarge, schemas.ReasonNotVideo, schemas.ReasonTruncated}
	// Endless streams: reading either would never end.
	if err := syscall.Mkfifo(filepath.Join(in, "fifo.mp4"), 0o644); err != nil {
		t.Fatal(err)
	}
	reject["fifo.mp4"] = []string{schemas.ReasonUnreadable}
	if err := os.Symlink("/dev/zero", filepath.Join(in, "zero.mp4")); err != nil {
		t.Fatal(err)
	}
	reject["zero.mp4"] = []string{schemas.ReasonUnreadable}
	// A playlist whose segment is /dev/urandom: ffmpeg must not follow it.
	write("endless.m3u8", []byte("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n/dev/urandom\n#EXTINF:10,\nhttp://127.0.0.1:1/x.ts\n"))
	reject["endless.m3u8"] = []string{schemas.ReasonNotVideo, schemas.ReasonTruncated, schemas.ReasonTimeout}
	// Malformed containers.
	moov := slices.Clone(data)
	if i := bytes.Index(moov, []byte("moov")); i > 0 {
		for k := i + 4; k < len(moov) && k < i+200; k++ {
			moov[k] = 0xff
		}
	}
	write("bad_moov.mp4", moov)
	reject["bad_moov.mp4"] = []string{schemas.ReasonNotVideo, schemas.ReasonTruncated}
	write("ftyp_only.mp4", append([]byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"), make([]byte, 4096)...))
	reject["ftyp_only.mp4"] = []string{schemas.ReasonNotVideo, schemas.ReasonTruncated}
	noise := make([]byte, 64<<10)
	for i := range noise {
		noise[i] = byte(i*7919 + i/13)
	}
	write("noise.mkv", append([]byte("\x1a\x45\xdf\xa3"), noise...))
	reject["noise.mkv"] = []string{schemas.ReasonNotVideo, schemas.ReasonTruncated}
	write("half.mp4", data[:len(data)/3])
	reject["half.mp4"] = []string{schemas.ReasonTruncated, schemas.ReasonNotVideo}

	cfg, err := untaggedConfig(in, filepath.Join(t.TempDir(), "out"), schemas.ProfileDemo)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Thresholds.ProbeTimeout = 10 * time.Second
	cfg.Thresholds.DecodeTimeout = 20 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(st.AccountingLine())
	if st.Inputs != len(accept)+len(reject) {
		t.Errorf("inputs = %d, want %d", st.Inputs, len(accept)+len(reject))
	}
	got := map[string]schemas.InputDecision{}
	for _, d := range st.Decisions {
		got[d.Source] = d
	}
	for _, n := range accept {
		if d := got[n]; !d.Accept {
			t.Errorf("%q: good footage rejected: %+v", n, d)
		}
	}
	for n, reasons := range reject {
		d, ok := got[n]
		t.Logf("%-14s rejected at %s: %s", n, d.Stage, d.Reason)
		if !ok || d.Accept || !slices.Contains(reasons, d.Reason) {
			t.Errorf("%q: %+v, want rejected for one of %v", n, d, reasons)
		}
	}
	for _, dir := range []string{in, cwd, filepath.Dir(cfg.Output)} {
		if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
			t.Errorf("a file name was executed: %s/pwned exists", dir)
		}
	}
}

// TestWriteFailureFailsTheRun: a clip whose file cannot be written (here a
// directory sits at its path) is this machine's fault, not the footage's.
// curate fails instead of rejecting the source encode_failed, and the next
// run, with the path free, keeps the footage. (refresh's
// TestRefreshWriteFailureFailsTheRun checks that it leaves LATEST alone.)
func TestWriteFailureFailsTheRun(t *testing.T) {
	ctx := context.Background()
	in := t.TempDir()
	pipetest.GoodFootage(t, in, "good.mp4")
	// The clip ids are a function of the footage: learn them from a scratch run.
	scratch := filepath.Join(t.TempDir(), "scratch")
	cfg, err := untaggedConfig(in, scratch, schemas.ProfileDemo)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	man := readJSONL[schemas.ManifestRecord](t, filepath.Join(scratch, dataset.ManifestFile))
	if len(man) == 0 {
		t.Fatal("scratch run kept no clip")
	}
	clipRel := man[len(man)-1].Clip
	out := filepath.Join(t.TempDir(), "out")
	if err := os.MkdirAll(filepath.Join(out, clipRel, "in-the-way"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg.Output = out
	if _, err := Run(ctx, cfg); err == nil || !strings.Contains(err.Error(), clipRel) {
		t.Fatalf("run with %s blocked: err = %v", clipRel, err)
	}
	if _, rerr := os.Stat(filepath.Join(out, dataset.RejectedFile)); rerr == nil {
		t.Errorf("the run finished and recorded rejects %+v", readJSONL[schemas.RejectRecord](t, filepath.Join(out, dataset.RejectedFile)))
	}
	// With the path free again, the next run keeps the footage.
	if err := os.RemoveAll(filepath.Join(out, clipRel)); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	kept := 0
	for _, m := range readJSONL[schemas.ManifestRecord](t, filepath.Join(out, dataset.ManifestFile)) {
		if m.Source == "good.mp4" {
			kept++
		}
	}
	if kept != len(man) {
		t.Errorf("second run kept %d clips of good.mp4, want %d", kept, len(man))
	}
}

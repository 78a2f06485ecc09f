package shards

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"realdpo/schemas"
)

// testPair builds a pair with n rejected members and consistent metadata.
func testPair(t testing.TB, key string, n int) Pair {
	t.Helper()
	chosen := bytes.Repeat([]byte("chosen-"+key), 100)
	png := []byte("\x89PNG fake " + key)
	meta := schemas.PairMeta{Key: key, ClipID: key, Caption: "a person " + key, Frames: 17, FPS: 8, Width: 96, Height: 64,
		Chosen:     schemas.MemberInfo{Name: key + "." + SuffixChosen, Bytes: int64(len(chosen)), SHA256: sha(chosen)},
		FirstFrame: schemas.MemberInfo{Name: key + "." + SuffixFirstFrame, Bytes: int64(len(png)), SHA256: sha(png)},
		Origin:     "test"}
	ms := []Member{{SuffixChosen, chosen}, {SuffixFirstFrame, png}, {SuffixCaption, []byte(meta.Caption)}}
	for i := 0; i < n; i++ {
		b := bytes.Repeat([]byte(fmt.Sprintf("rej%d-%s", i, key)), 50+i)
		ms = append(ms, Member{SuffixRejected(i), b})
		meta.Rejected = append(meta.Rejected, schemas.RejectedInfo{MemberInfo: schemas.MemberInfo{Name: key + "." + SuffixRejected(i),
			Bytes: int64(len(b)), SHA256: sha(b)}, Index: i, Seed: uint64(i)})
	}
	mj, err := json.Marshal(meta)
	if err != nil {
		t.Fatal(err)
	}
	ms = append(ms, Member{SuffixMeta, mj})
	return Pair{Key: key, Members: ms}
}

func writeShard(t testing.TB, pairs ...Pair) ([]byte, schemas.ShardEntry) {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, p := range pairs {
		if err := w.WritePair(p); err != nil {
			t.Fatal(err)
		}
	}
	n, size, sum, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if size != int64(buf.Len()) {
		t.Fatalf("writer counted %d bytes, wrote %d", size, buf.Len())
	}
	return buf.Bytes(), schemas.ShardEntry{Shard: ShardName(0), Count: n, Bytes: size, SHA256: sum}
}

func readAll(data []byte, o ReaderOptions) ([]*PreferencePair, error) {
	r := NewReader(bytes.NewReader(data), o)
	var out []*PreferencePair
	for {
		p, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, p)
	}
}

func TestRoundTripDeterministic(t *testing.T) {
	pairs := []Pair{testPair(t, "b", 3), testPair(t, "a-1", 3), testPair(t, "c_2", 2)}
	data, e := writeShard(t, pairs...)
	again, e2 := writeShard(t, pairs...)
	if !bytes.Equal(data, again) || e != e2 {
		t.Fatal("same pairs gave different bytes")
	}
	var sizes int64
	for _, p := range pairs {
		var ss []int64
		for _, m := range p.Members {
			ss = append(ss, int64(len(m.Data)))
		}
		sizes += TarSize(ss...)
	}
	if sizes+TrailerSize != int64(len(data)) {
		t.Fatalf("TarSize predicts %d bytes, shard has %d", sizes+TrailerSize, len(data))
	}
	got, err := readAll(data, ReaderOptions{Expect: &e})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Key != "b" || len(got[0].Rejected) != 3 || len(got[2].Rejected) != 2 || got[1].Caption != "a person a-1" {
		t.Fatalf("read back %d pairs: %+v", len(got), got)
	}
	// Headers are the fixed ones.
	tr := tar.NewReader(bytes.NewReader(data))
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.ModTime.Unix() != 0 || h.Uid != 0 || h.Gid != 0 || h.Mode != 0o644 || h.Uname != "" || h.Format != tar.FormatUSTAR {
			t.Fatalf("header %+v is not deterministic ustar", h)
		}
		names = append(names, h.Name)
	}
	want := "b.chosen.mp4 b.first_frame.png b.json b.rejected_0.mp4 b.rejected_1.mp4 b.rejected_2.mp4 b.txt"
	if got := strings.Join(names[:7], " "); got != want {
		t.Fatalf("member order %q, want %q", got, want)
	}
}

// TestStandardTools lists a shard with GNU tar and Python's tarfile.
func TestStandardTools(t *testing.T) {
	data, _ := writeShard(t, testPair(t, "k1", 3), testPair(t, "k2", 3))
	p := filepath.Join(t.TempDir(), ShardName(0))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("tar", "-tvf", p).CombinedOutput()
	if err != nil {
		t.Fatalf("tar -tvf: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "\n"); n != 14 {
		t.Fatalf("tar lists %d members, want 14:\n%s", n, out)
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	script := `import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    ms = t.getmembers()
    assert all(m.isfile() and "/" not in m.name for m in ms), ms
    print(len(ms), sorted({m.name.split(".", 1)[0] for m in ms}))`
	out, err = exec.Command(py, "-c", script, p).CombinedOutput()
	if err != nil {
		t.Fatalf("python tarfile: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "14 ['k1', 'k2']" {
		t.Fatalf("python tarfile says %q", got)
	}
}

// rawTar writes members with arbitrary headers, as a hostile producer would.
func rawTar(t *testing.T, hdrs []*tar.Header, bodies [][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if bodies[i] != nil {
			tw.Write(bodies[i])
		}
	}
	tw.Close()
	return buf.Bytes()
}

func TestHostileShards(t *testing.T) {
	good, entry := writeShard(t, testPair(t, "k1", 2), testPair(t, "k2", 2))
	reg := func(name string, body string) (*tar.Header, []byte) {
		return &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body))}, []byte(body)
	}
	one := func(name, body string) []byte {
		h, b := reg(name, body)
		return rawTar(t, []*tar.Header{h}, [][]byte{b})
	}
	flipped := append([]byte(nil), good...)
	flipped[600] ^= 1 // inside k1.chosen.mp4's data
	cases := []struct {
		name string
		data []byte
		o    ReaderOptions
		want error
		msg  string
	}{
		{"traversal", one("../../etc/k.txt", "x"), ReaderOptions{}, ErrUnsafeName, "path traversal"},
		{"traversal-inner", one("k/../../k.txt", "x"), ReaderOptions{}, ErrUnsafeName, "path traversal"},
		{"absolute", one("/etc/k.txt", "x"), ReaderOptions{}, ErrUnsafeName, "absolute"},
		{"nested", one("dir/k.txt", "x"), ReaderOptions{}, ErrUnsafeName, "nested"},
		{"dotted-key", one("a.b.txt", "x"), ReaderOptions{}, nil, "no chosen.mp4"},
		{"oversized", one("k.txt", strings.Repeat("x", 2000)), ReaderOptions{MaxMemberBytes: 1000}, ErrTooLarge, "limit 1000"},
		{"truncated-data", good[:900], ReaderOptions{}, ErrTruncated, "cut off"},
		{"truncated-header", good[:512*3+100], ReaderOptions{}, ErrTruncated, ""},
		{"truncated-at-boundary", good[:len(good)-TrailerSize], ReaderOptions{}, ErrTruncated, "end-of-archive"},
		{"one-end-block", good[:len(good)-512], ReaderOptions{}, ErrTruncated, "end-of-archive"},
		{"checksum", flipped, ReaderOptions{}, ErrChecksum, ""},
		{"shard-checksum", good, ReaderOptions{Expect: &schemas.ShardEntry{Count: entry.Count, Bytes: entry.Bytes, SHA256: strings.Repeat("0", 64)}}, ErrChecksum, "index says"},
		{"count", good, ReaderOptions{Expect: &schemas.ShardEntry{Count: 3, Bytes: entry.Bytes, SHA256: entry.SHA256}}, nil, "index says 3"},
		{"garbage", bytes.Repeat([]byte("not a tar "), 200), ReaderOptions{}, nil, "bad tar header"},
	}
	sym := rawTar(t, []*tar.Header{{Typeflag: tar.TypeSymlink, Name: "k.txt", Linkname: "/etc/passwd"}}, [][]byte{nil})
	cases = append(cases, struct {
		name string
		data []byte
		o    ReaderOptions
		want error
		msg  string
	}{"symlink", sym, ReaderOptions{}, nil, "not a regular file"})
	h1, b1 := reg("a.txt", "x")
	h2, b2 := reg("b.txt", "y")
	h3, b3 := reg("a.json", "z")
	split := rawTar(t, []*tar.Header{h1, h2, h3}, [][]byte{b1, b2, b3})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := readAll(c.data, c.o)
			if err == nil {
				t.Fatal("accepted")
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %q does not say %q", err, c.msg)
			}
		})
	}
	t.Run("split-sample", func(t *testing.T) {
		r := NewReader(bytes.NewReader(split), ReaderOptions{})
		var err error
		for err == nil {
			_, err = r.NextSample()
		}
		if !strings.Contains(err.Error(), "two places") {
			t.Fatalf("error %v", err)
		}
	})
}

func TestWriterRejectsBadInput(t *testing.T) {
	w := NewWriter(io.Discard)
	if err := w.WritePair(Pair{Key: "a.b"}); err == nil {
		t.Fatal("dotted key accepted")
	}
	if err := w.WritePair(Pair{Key: "a", Members: []Member{{"x/y", nil}}}); err == nil {
		t.Fatal("nested suffix accepted")
	}
	if err := w.WritePair(Pair{Key: "a", Members: []Member{{"txt", nil}}}); err != nil {
		t.Fatal(err)
	}
	if err := w.WritePair(Pair{Key: "a", Members: []Member{{"txt", nil}}}); err == nil {
		t.Fatal("duplicate key accepted")
	}
}

func TestKeyFor(t *testing.T) {
	if KeyFor("4873105") != "4873105" || KeyFor("ab_C-9") != "ab_C-9" {
		t.Fatal("valid ids must stay")
	}
	a, b := KeyFor("clip.1"), KeyFor("clip_1")
	if !ValidKey(a) || a == b || strings.Contains(a, ".") {
		t.Fatalf("KeyFor(clip.1) = %q", a)
	}
	if k := KeyFor(strings.Repeat("é", 100)); !ValidKey(k) {
		t.Fatalf("long id gives %q", k)
	}
}

func TestPlan(t *testing.T) {
	for _, c := range []struct {
		n             int
		total, target int64
		workers, want int
	}{
		{0, 0, 10, 4, 0},
		{10, 100, 1000, 1, 1},
		{10, 100, 1000, 4, 4},   // rounded up to the workers
		{10, 100, 20, 4, 8},     // 5 -> 8
		{10, 100, 5, 4, 8},      // 20 wanted, capped to 10, then down to a multiple
		{3, 100, 10, 4, 3},      // fewer pairs than workers: one pair a shard
		{100, 1000, 100, 3, 12}, // 10 -> 12
	} {
		if got := ShardCount(c.n, c.total, c.target, c.workers); got != c.want {
			t.Errorf("ShardCount(%d, %d, %d, %d) = %d, want %d", c.n, c.total, c.target, c.workers, got, c.want)
		}
	}
	var items []PlanItem
	for i := 0; i < 23; i++ {
		items = append(items, PlanItem{fmt.Sprintf("k%02d", i), 100})
	}
	p := MakePlan(items, 500, 2)
	if p.Shards != 6 {
		t.Fatalf("shards %d, want 6", p.Shards)
	}
	counts := make([]int, p.Shards)
	for i, s := range p.Shard {
		counts[s]++
		if i > 0 && s < p.Shard[i-1] {
			t.Fatal("shards not contiguous")
		}
	}
	for _, c := range counts {
		if c < 3 || c > 4 {
			t.Fatalf("unbalanced counts %v", counts)
		}
	}
	// Input order does not matter.
	rev := append([]PlanItem(nil), items...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	q := MakePlan(rev, 500, 2)
	if fmt.Sprint(p) != fmt.Sprint(q) {
		t.Fatal("plan depends on input order")
	}
}

func TestWalkIndex(t *testing.T) {
	dir := t.TempDir()
	var ix schemas.ShardIndex
	ix.Format = schemas.ShardFormat
	for i, keys := range [][]string{{"a", "b"}, {"c"}} {
		var ps []Pair
		for _, k := range keys {
			ps = append(ps, testPair(t, k, 1))
		}
		data, e := writeShard(t, ps...)
		e.Shard = ShardName(i)
		os.WriteFile(filepath.Join(dir, e.Shard), data, 0o644)
		ix.Shards = append(ix.Shards, e)
		ix.Pairs += e.Count
	}
	b, _ := json.Marshal(ix)
	os.WriteFile(filepath.Join(dir, IndexFile), b, 0o644)
	var got []string
	if err := Walk(context.Background(), dir, ReaderOptions{}, func(s string, p *PreferencePair) error {
		got = append(got, s+":"+p.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "pairs-000000.tar:a,pairs-000000.tar:b,pairs-000001.tar:c" {
		t.Fatalf("walk gave %v", got)
	}
	// A shard replaced behind the index's back fails its checksum.
	data, _ := writeShard(t, testPair(t, "c", 2))
	os.WriteFile(filepath.Join(dir, ShardName(1)), data, 0o644)
	err := Walk(context.Background(), dir, ReaderOptions{}, func(string, *PreferencePair) error { return nil })
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("error %v, want checksum", err)
	}
}

// countingZeros is an endless stream of zero bytes that counts what was read.
type countingZeros struct{ n int64 }

func (z *countingZeros) Read(p []byte) (int, error) {
	clear(p)
	z.n += int64(len(p))
	return len(p), nil
}

// TestShardNeverReadPastItsSize: a shard that is a link to /dev/zero (or
// a FIFO) fails at once instead of being read forever, and the reader never
// reads more than the byte count the index records, plus one.
func TestShardNeverReadPastItsSize(t *testing.T) {
	ctx := context.Background()
	data, entry := writeShard(t, testPair(t, "k1", 2))
	for name, mk := range map[string]func(p string) error{
		"dev-zero": func(p string) error { return os.Symlink("/dev/zero", p) },
		"fifo":     func(p string) error { return exec.Command("mkfifo", p).Run() },
		"longer": func(p string) error {
			return os.WriteFile(p, append(append([]byte{}, data...), make([]byte, 1<<20)...), 0o644)
		},
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			if err := mk(filepath.Join(root, entry.Shard)); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				done <- WalkShard(ctx, root, entry, ReaderOptions{}, func(*PreferencePair) error { return nil })
			}()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("read as a good shard")
				}
				t.Log(err)
			case <-time.After(20 * time.Second):
				t.Fatal("the shard is still being read after 20 s")
			}
		})
	}
	z := &countingZeros{}
	r := NewReader(z, ReaderOptions{Expect: &entry})
	for {
		if _, err := r.Next(); err != nil {
			if err == io.EOF {
				t.Fatal("zeros read as a good shard")
			}
			break
		}
	}
	if z.n > entry.Bytes+1+64<<10 {
		t.Errorf("read %d bytes of an endless stream; the index records %d", z.n, entry.Bytes)
	}
}

package train

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"realdpo/schemas"
	"realdpo/transforms/generate"
	"realdpo/transforms/shards"
)

// The fixture's clips follow the demo profile: 17 frames at 8 fps, 96x64.
var demoSpec = generate.Spec{Frames: 17, Width: 96, Height: 64, FPS: 8}

// scene draws a frame: a warm background gradient and a figure-sized block
// at (x, y).
func scene(w, h, x, y, tint int) []byte {
	f := make([]byte, w*h*3)
	for j := 0; j < h; j++ {
		for i := 0; i < w; i++ {
			k := (j*w + i) * 3
			f[k], f[k+1], f[k+2] = byte(90+i), byte(140+j/2), byte(60+tint)
			if i >= x && i < x+10 && j >= y && j < y+22 {
				f[k], f[k+1], f[k+2] = 230, 60, 40
			}
		}
	}
	return f
}

// realClip moves the block steadily to the right (smooth motion); fake
// clips make it jump about (the kind of motion RealDPO should push away).
func realClip(seed int) [][]byte {
	var fs [][]byte
	for t := 0; t < demoSpec.Frames; t++ {
		fs = append(fs, scene(demoSpec.Width, demoSpec.Height, 8+seed*3+t*3, 30, seed*7))
	}
	return fs
}

func fakeClip(seed, k int) [][]byte {
	var fs [][]byte
	for t := 0; t < demoSpec.Frames; t++ {
		x := 8 + seed*3
		if t > 0 {
			x += ((t*7 + k*13 + seed) % 11) * 5
		}
		fs = append(fs, scene(demoSpec.Width, demoSpec.Height, x, 30-(t*k)%9, seed*7))
	}
	return fs
}

func caption(i int) string {
	return fmt.Sprintf("A person walks to the right across a park, take %d.", i)
}

func pngOf(t testing.TB, f []byte, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = f[3*i], f[3*i+1], f[3*i+2], 255
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func info(name string, b []byte) schemas.MemberInfo {
	s := sha256.Sum256(b)
	return schemas.MemberInfo{Name: name, Bytes: int64(len(b)), SHA256: hex.EncodeToString(s[:])}
}

// fixture describes a pair set to write.
type fixture struct {
	pairs, losers, perShard int
	// brokenLoser, when >= 0, replaces that pair's first rejected clip by
	// bytes that are not a video (checksums still match: a pair the
	// decoder must reject, not a corrupt shard).
	brokenLoser int
}

// makePairSet writes a pair set in the realdpo-pairs/1 layout with
// shards.Writer: shards, per-shard stats and index.json.
func makePairSet(t testing.TB, dir string, fx fixture) {
	t.Helper()
	ctx := context.Background()
	enc := func(frames [][]byte) []byte {
		b, err := generate.EncodeMP4(ctx, t.TempDir(), frames, demoSpec)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ix := schemas.ShardIndex{Format: schemas.ShardFormat, Negatives: fx.losers, LoaderWorkers: 1}
	var (
		buf bytes.Buffer
		w   *shards.Writer
	)
	flush := func() {
		n, size, sum, err := w.Close()
		if err != nil {
			t.Fatal(err)
		}
		name := shards.ShardName(len(ix.Shards))
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		ix.Shards = append(ix.Shards, schemas.ShardEntry{Shard: name, Count: n, Bytes: size, SHA256: sum})
		ix.Pairs += n
		ix.Bytes += size
		w = nil
	}
	for i := 0; i < fx.pairs; i++ {
		if w == nil {
			buf.Reset()
			w = shards.NewWriter(&buf)
		}
		key := fmt.Sprintf("clip-%03d", i)
		real := realClip(i)
		chosen := enc(real)
		first := pngOf(t, real[0], demoSpec.Width, demoSpec.Height)
		caption := caption(i)
		meta := schemas.PairMeta{Key: key, ClipID: key, Caption: caption, Frames: demoSpec.Frames, FPS: demoSpec.FPS,
			Width: demoSpec.Width, Height: demoSpec.Height, Origin: "realdpo",
			Chosen: info(key+"."+shards.SuffixChosen, chosen), FirstFrame: info(key+"."+shards.SuffixFirstFrame, first)}
		members := []shards.Member{{Suffix: shards.SuffixChosen, Data: chosen}, {Suffix: shards.SuffixFirstFrame, Data: first},
			{Suffix: shards.SuffixCaption, Data: []byte(caption)}}
		for k := 0; k < fx.losers; k++ {
			rej := enc(fakeClip(i, k))
			if i == fx.brokenLoser && k == 0 {
				rej = []byte("<html>not a video</html>")
			}
			meta.Rejected = append(meta.Rejected, schemas.RejectedInfo{MemberInfo: info(key+"."+shards.SuffixRejected(k), rej), Index: k, Seed: uint64(k)})
			members = append(members, shards.Member{Suffix: shards.SuffixRejected(k), Data: rej})
		}
		mj, err := json.Marshal(meta)
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, shards.Member{Suffix: shards.SuffixMeta, Data: mj})
		if err := w.WritePair(shards.Pair{Key: key, Members: members}); err != nil {
			t.Fatal(err)
		}
		if (i+1)%fx.perShard == 0 {
			flush()
		}
	}
	if w != nil {
		flush()
	}
	b, _ := json.MarshalIndent(ix, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, shards.IndexFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

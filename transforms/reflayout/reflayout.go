// Package reflayout reads and writes the reference implementation's data
// layout (Vchitect/RealDPO, its finetune loaders):
//
//	ROOT/prompt.txt                 one caption per line
//	ROOT/video.txt                  one video path per line, relative to ROOT, same order
//	ROOT/videos/ID.mp4              the real (preferred) clip
//	ROOT/negative_samples/ID/K.mp4  the K-th generated (rejected) clip, K = 0, 1, ...
//
// ID is the video's file name without its extension. Import lets existing
// RealDPO data sets be sharded; the pairs pipeline's --export=realdpo
// writes this layout back.
package reflayout

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"

	"realdpo/transforms/fsx"
)

// File names of the layout.
const (
	PromptFile   = "prompt.txt"
	VideoFile    = "video.txt"
	VideosDir    = "videos"
	NegativesDir = "negative_samples"
)

// MaxListBytes bounds prompt.txt and video.txt.
const MaxListBytes = 256 << 20

// Sample is one entry of a reference data set.
type Sample struct {
	Line    int    // 1-based line in prompt.txt / video.txt
	ID      string // video file name without extension
	Caption string
	Video   string   // relative to the root, as video.txt says
	Negs    []string // relative to the root: negative_samples/ID/K.mp4, K order
}

// Problem is an entry that cannot be imported, with its reason.
type Problem struct {
	Line   int
	ID     string
	Reason string
}

// IsLayout reports whether root holds prompt.txt and video.txt.
func IsLayout(ctx context.Context, root string) bool {
	for _, f := range []string{PromptFile, VideoFile} {
		if _, err := fsx.Size(ctx, join(root, f)); err != nil {
			return false
		}
	}
	return true
}

func join(root, rel string) string { return strings.TrimSuffix(root, "/") + "/" + rel }

// SafeRel checks a relative path from a list file: no absolute paths, no
// climbing out of the root, no schemes.
func SafeRel(p string) error {
	switch {
	case p == "":
		return errors.New("empty path")
	case strings.HasPrefix(p, "/") || strings.HasPrefix(p, `\`) || strings.Contains(p, "://") || (len(p) > 1 && p[1] == ':'):
		return fmt.Errorf("absolute path %q", p)
	case strings.ContainsAny(p, "\\\x00"):
		return fmt.Errorf("bad character in %q", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return fmt.Errorf("path %q climbs out of the data set", p)
		}
	}
	return nil
}

func readLines(ctx context.Context, p string) ([]string, error) {
	data, err := fsx.ReadFile(ctx, p, MaxListBytes)
	if err != nil {
		return nil, err
	}
	data = bytes.TrimSuffix(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")), []byte("\n"))
	if len(data) == 0 {
		return nil, nil
	}
	return strings.Split(string(data), "\n"), nil
}

// Import lists a reference data set: the samples it can pair and the
// entries it cannot (bad path, missing video, no negatives), so nothing is
// dropped silently. Negatives are negative_samples/ID/K.mp4 for
// K = 0, 1, ... up to the first missing K.
func Import(ctx context.Context, root string) ([]Sample, []Problem, error) {
	prompts, err := readLines(ctx, join(root, PromptFile))
	if err != nil {
		return nil, nil, err
	}
	videos, err := readLines(ctx, join(root, VideoFile))
	if err != nil {
		return nil, nil, err
	}
	if len(prompts) != len(videos) {
		return nil, nil, fmt.Errorf("%s has %d lines but %s has %d", PromptFile, len(prompts), VideoFile, len(videos))
	}
	// One listing of negative_samples instead of a probe per file.
	negFiles := map[string]map[int]string{}
	listed, err := fsx.Glob(ctx, join(root, NegativesDir)+"/*/*.mp4")
	if err != nil {
		listed = nil // no negatives directory: every sample reports no negatives
	}
	for _, f := range listed {
		rel := strings.TrimPrefix(f, strings.TrimSuffix(root, "/")+"/")
		dir, file := path.Split(rel)
		id := path.Base(strings.TrimSuffix(dir, "/"))
		k, err := strconv.Atoi(strings.TrimSuffix(file, ".mp4"))
		if err != nil || k < 0 || strconv.Itoa(k)+".mp4" != file {
			continue
		}
		if negFiles[id] == nil {
			negFiles[id] = map[int]string{}
		}
		negFiles[id][k] = NegativesDir + "/" + id + "/" + file
	}
	var out []Sample
	var probs []Problem
	seen := map[string]int{}
	for i := range videos {
		v := strings.TrimSpace(videos[i])
		s := Sample{Line: i + 1, Caption: strings.TrimSpace(prompts[i]), Video: strings.TrimPrefix(v, "./")}
		s.ID = strings.TrimSuffix(path.Base(s.Video), path.Ext(s.Video))
		bad := func(reason string) { probs = append(probs, Problem{Line: s.Line, ID: s.ID, Reason: reason}) }
		if err := SafeRel(s.Video); err != nil {
			bad("video path: " + err.Error())
			continue
		}
		if s.Caption == "" {
			bad("empty caption")
			continue
		}
		if prev, dup := seen[s.ID]; dup {
			bad(fmt.Sprintf("id %s already on line %d", s.ID, prev))
			continue
		}
		seen[s.ID] = s.Line
		if sz, err := fsx.Size(ctx, join(root, s.Video)); err != nil || sz == 0 {
			bad("video " + s.Video + " missing or empty")
			continue
		}
		ks := negFiles[s.ID]
		for k := 0; ; k++ {
			p, ok := ks[k]
			if !ok {
				break
			}
			s.Negs = append(s.Negs, p)
		}
		if len(ks) > len(s.Negs) {
			var extra []int
			for k := range ks {
				if k >= len(s.Negs) {
					extra = append(extra, k)
				}
			}
			sort.Ints(extra)
			bad(fmt.Sprintf("negatives %v skipped: index %d is missing", extra, len(s.Negs)))
		}
		out = append(out, s)
	}
	return out, probs, nil
}

// Entry is one exported sample.
type Entry struct {
	ID      string
	Caption string
}

// Lists renders prompt.txt and video.txt for entries in the given order.
// Captions lose their line breaks (the format is one caption a line).
func Lists(entries []Entry) (prompt, video []byte) {
	var p, v bytes.Buffer
	for _, e := range entries {
		p.WriteString(OneLine(e.Caption))
		p.WriteByte('\n')
		v.WriteString(VideoPath(e.ID))
		v.WriteByte('\n')
	}
	return p.Bytes(), v.Bytes()
}

// OneLine folds whitespace runs, line breaks included, into single spaces.
func OneLine(s string) string {
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 64<<10), MaxListBytes)
	sc.Split(bufio.ScanWords)
	for sc.Scan() {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(sc.Text())
	}
	return b.String()
}

// VideoPath is the relative path of a real clip.
func VideoPath(id string) string { return VideosDir + "/" + id + ".mp4" }

// NegativePath is the relative path of the k-th negative of a clip.
func NegativePath(id string, k int) string {
	return fmt.Sprintf("%s/%s/%d.mp4", NegativesDir, id, k)
}

package synth

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"realdpo/schemas"
	"realdpo/transforms/fsx"
)

// GroundTruthFile is the name of the ground-truth listing in the output.
const GroundTruthFile = "ground_truth.jsonl"

// ContactSheetFile is the name of the optional contact sheet.
const ContactSheetFile = "contact_sheet.png"

var codecNames = map[string]string{"libx264": "h264", "libvpx-vp9": "vp9", "mpeg4": "mpeg4"}

// Generate writes a corpus into c.Output and returns its ground truth, in
// file order. Re-running with the same config rewrites the same files.
func Generate(ctx context.Context, c Config) ([]schemas.GroundTruth, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.defaults()
	if c.Workers <= 0 {
		c.Workers = runtime.NumCPU()
	}
	if err := os.MkdirAll(c.Output, 0o755); err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	items := plan(c)
	truth := make([]schemas.GroundTruth, len(items))
	thumbs := make([][]image.Image, len(items))
	start := time.Now()
	// Originals first, then duplicates, which copy or re-render them.
	for _, phase := range []func(it *item) bool{
		func(it *item) bool { return it.dupOf < 0 },
		func(it *item) bool { return it.dupOf >= 0 },
	} {
		var todo []int
		for i := range items {
			if phase(&items[i]) {
				todo = append(todo, i)
			}
		}
		if err := parallel(ctx, c.Workers, todo, func(i int) error {
			gt, th, err := writeItem(ctx, c, items, i)
			if err != nil {
				return fmt.Errorf("synth: %s: %w", items[i].spec.Name, err)
			}
			truth[i], thumbs[i] = gt, th
			return nil
		}); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	for _, gt := range truth {
		line, err := json.Marshal(gt)
		if err != nil {
			return nil, fmt.Errorf("synth: ground truth: %w", err)
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	if err := writeFileAtomic(filepath.Join(c.Output, GroundTruthFile), buf.Bytes()); err != nil {
		return nil, err
	}
	if c.ContactSheet {
		if err := writeContactSheet(filepath.Join(c.Output, ContactSheetFile), truth, thumbs); err != nil {
			return nil, err
		}
	}
	slog.Info("synth: corpus written", "dir", c.Output, "files", len(truth), "elapsed", time.Since(start).Round(time.Millisecond))
	return truth, nil
}

// parallel runs fn over idx with n workers, stopping at the first error.
func parallel(ctx context.Context, n int, idx []int, fn func(int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := fn(i); err != nil {
					cancel(err)
				}
			}
		}()
	}
feed:
	for _, i := range idx {
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// writeItem renders (or copies, truncates, fakes) one file and its sidecars.
func writeItem(ctx context.Context, c Config, items []item, i int) (schemas.GroundTruth, []image.Image, error) {
	it := &items[i]
	v := &it.spec
	path := filepath.Join(c.Output, v.Name)
	base := strings.TrimSuffix(v.Name, filepath.Ext(v.Name))
	gt := schemas.GroundTruth{
		File: v.Name, Sidecar: base + ".json", Container: v.Container, Codec: codecNames[v.Codec],
		Width: v.Width, Height: v.Height, FPS: v.FPS, Frames: v.Frames, DurationS: v.duration(),
		Action: v.Shots[0].Action, Category: actionByName(v.Shots[0].Action).Category, People: v.Shots[0].People,
		Camera: v.Shots[0].Camera, Scene: v.Shots[0].Scene, Defects: append([]string{}, v.Defects...),
		Title: it.title, Tags: it.tags, Caption: it.caption, Seed: v.Seed, Expected: map[string]schemas.Outcome{},
	}
	if len(v.Shots) > 1 {
		gt.CutFrames = cutFrames(v)
		gt.Shots = shotsToSchema(v)
	}
	for _, p := range Profiles {
		gt.Expected[p.Name] = expected(it, items, p)
	}
	if it.defect == schemas.DefectZeroByte || it.defect == schemas.DefectNotVideo {
		// Nothing is rendered: there is no footage to describe.
		gt.Action, gt.Category, gt.People, gt.Camera, gt.Scene = "", "", 0, "", ""
	}
	var th []image.Image
	switch it.defect {
	case schemas.DefectZeroByte:
		gt.Container, gt.Codec, gt.Width, gt.Height, gt.FPS, gt.Frames, gt.DurationS = "", "", 0, 0, 0, 0, 0
		if err := writeFileAtomic(path, nil); err != nil {
			return gt, nil, err
		}
	case schemas.DefectNotVideo:
		gt.Container, gt.Codec, gt.Width, gt.Height, gt.FPS, gt.Frames, gt.DurationS = "", "", 0, 0, 0, 0, 0
		page := "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n<body><h1>Not Found</h1><p>The requested video was not found on this server.</p></body></html>\n"
		if err := writeFileAtomic(path, []byte(page)); err != nil {
			return gt, nil, err
		}
	case schemas.DefectExactDup:
		orig := filepath.Join(c.Output, items[it.dupOf].spec.Name)
		data, err := os.ReadFile(orig)
		if err != nil {
			return gt, nil, fmt.Errorf("read original: %w", err)
		}
		if err := writeFileAtomic(path, data); err != nil {
			return gt, nil, err
		}
		gt.DuplicateOf = items[it.dupOf].spec.Name
	case schemas.DefectTruncated:
		tmp := path + ".full" + filepath.Ext(path)
		res, err := render(ctx, v, tmp, 6)
		if err != nil {
			return gt, nil, err
		}
		data, err := os.ReadFile(tmp)
		os.Remove(tmp)
		if err != nil {
			return gt, nil, err
		}
		// Cut the file partway, as an interrupted download leaves it.
		keep := len(data) * (35 + int(v.Seed%25)) / 100
		if err := writeFileAtomic(path, data[:keep]); err != nil {
			return gt, nil, err
		}
		gt.FramesSHA256, th = res.FramesSHA256, res.Thumbs
	default:
		res, err := render(ctx, v, path, 6)
		if err != nil {
			return gt, nil, err
		}
		gt.FramesSHA256, th = res.FramesSHA256, res.Thumbs
		if it.dupOf >= 0 {
			gt.DuplicateOf = items[it.dupOf].spec.Name
			gt.OffsetS = float64(v.Skip) / v.FPS
		}
	}
	side := schemas.Sidecar{Title: it.title, Tags: it.tags, Source: "realdpo-synth", License: "CC0-1.0"}
	sj, err := json.MarshalIndent(side, "", "  ")
	if err != nil {
		return gt, nil, err
	}
	if err := writeFileAtomic(filepath.Join(c.Output, gt.Sidecar), append(sj, '\n')); err != nil {
		return gt, nil, err
	}
	if it.txt {
		gt.CaptionTxt = base + ".txt"
		if err := writeFileAtomic(filepath.Join(c.Output, gt.CaptionTxt), []byte(it.caption+"\n")); err != nil {
			return gt, nil, err
		}
	}
	return gt, th, nil
}

// writeFileAtomic writes a local file temp-then-rename (fsx.WriteFile), so
// a reader never sees a partial file.
func writeFileAtomic(path string, data []byte) error {
	return fsx.WriteFile(context.Background(), path, data)
}

// ReadGroundTruth loads a ground_truth.jsonl.
func ReadGroundTruth(r io.Reader) ([]schemas.GroundTruth, error) {
	var out []schemas.GroundTruth
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var gt schemas.GroundTruth
		if err := json.Unmarshal(line, &gt); err != nil {
			return out, fmt.Errorf("ground truth line %d: %w", n, err)
		}
		out = append(out, gt)
	}
	return out, sc.Err()
}

// writeContactSheet lays out one row per file: a label, then evenly spaced frames.
func writeContactSheet(path string, truth []schemas.GroundTruth, thumbs [][]image.Image) error {
	const tw, th, cols, label, maxRows = 160, 90, 6, 260, 60
	rows := min(len(truth), maxRows)
	sheet := image.NewRGBA(image.Rect(0, 0, label+cols*(tw+2), rows*(th+2)))
	draw.Draw(sheet, sheet.Bounds(), image.NewUniform(color.RGBA{12, 12, 12, 255}), image.Point{}, draw.Src)
	cv := &canvas{W: sheet.Rect.Dx(), H: sheet.Rect.Dy(), Pix: make([]byte, sheet.Rect.Dx()*sheet.Rect.Dy()*3)}
	for r := 0; r < rows; r++ {
		gt := truth[r]
		y := r * (th + 2)
		lines := []string{gt.File, fmt.Sprintf("%dx%d %gfps %.1fs %s", gt.Width, gt.Height, gt.FPS, gt.DurationS, gt.Codec)}
		act := gt.Action
		if act == "" {
			act = "(no people)"
		}
		lines = append(lines, fmt.Sprintf("%s x%d, %s cam", act, gt.People, gt.Camera))
		if len(gt.Defects) > 0 {
			lines = append(lines, "DEFECT: "+strings.Join(gt.Defects, ","))
		}
		for k, ln := range lines {
			col := rgb{230, 230, 230}
			if strings.HasPrefix(ln, "DEFECT") {
				col = rgb{255, 120, 100}
			}
			cv.stamp(textMask(ln, 1), 6, y+4+k*15, col, 1)
		}
		for k := 0; k < cols; k++ {
			x := label + k*(tw+2)
			if k < len(thumbs[r]) {
				draw.Draw(sheet, image.Rect(x, y, x+tw, y+th), thumbs[r][k], image.Point{}, draw.Src)
			} else {
				draw.Draw(sheet, image.Rect(x, y, x+tw, y+th), image.NewUniform(color.RGBA{50, 30, 30, 255}), image.Point{}, draw.Src)
			}
		}
	}
	// Merge the text layer (drawn on a black canvas) into the label column.
	for y := 0; y < cv.H; y++ {
		for x := 0; x < label; x++ {
			o := (y*cv.W + x) * 3
			if cv.Pix[o] != 0 || cv.Pix[o+1] != 0 || cv.Pix[o+2] != 0 {
				sheet.Set(x, y, color.RGBA{cv.Pix[o], cv.Pix[o+1], cv.Pix[o+2], 255})
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, sheet); err != nil {
		return fmt.Errorf("contact sheet: %w", err)
	}
	return writeFileAtomic(path, buf.Bytes())
}

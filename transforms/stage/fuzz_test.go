package stage

import (
	"strings"
	"testing"
	"unicode/utf8"

	"realdpo/schemas"
)

// FuzzApplySidecars: any NAME.json / NAME.txt content gives a source whose
// text fields are valid single-line UTF-8 and whose category is a known
// one; malformed sidecars are noted, never fatal.
func FuzzApplySidecars(f *testing.F) {
	f.Add([]byte(`{"title":"A cook stirring a pot","tags":["cooking","kitchen"],"description":"at home"}`), []byte("A person stirs a pot\n"), true, true)
	f.Add([]byte(`{"title":`), []byte("\xff\xfe bad utf-8"), true, true)
	f.Add([]byte(`{"tags":"not a list","title":7}`), []byte(""), true, false)
	f.Add([]byte(`{"title":"line\nbreak\u0000nul","tags":["walk\tI\r\nNG"]}`), []byte("  \n\t "), true, true)
	f.Add([]byte(`[1,2,3]`), []byte(nil), true, false)
	f.Fuzz(func(t *testing.T, js, txt []byte, hasJSON, hasTxt bool) {
		if !hasJSON {
			js = nil
		}
		if !hasTxt {
			txt = nil
		}
		var src schemas.SourceFile
		ApplySidecars(&src, js, txt)
		texts := append([]string{src.Title, src.Caption}, src.Tags...)
		for _, s := range texts {
			if !utf8.ValidString(s) || strings.ContainsAny(s, "\n\r\t") || s != strings.TrimSpace(s) {
				t.Fatalf("unclean text %q", s)
			}
		}
		for _, tag := range src.Tags {
			if tag == "" {
				t.Fatal("empty tag kept")
			}
		}
		if src.Caption != "" && src.CaptionSource == "" {
			t.Fatal("caption without its source")
		}
		if src.Category != "" && CategoryFromTags(src.Tags, src.Title) != src.Category {
			t.Fatalf("category %q not from the tags", src.Category)
		}
	})
}

package model

import "testing"

func TestLoadBase(t *testing.T) {
	m, err := LoadBase()
	if err != nil {
		t.Fatal(err)
	}
	if m.Config() != Tiny() {
		t.Fatalf("base config %+v, want the tiny preset", m.Config())
	}
	meta, err := BaseMetadata()
	if err != nil || meta["command"] == "" {
		t.Fatalf("metadata %v, %v", meta, err)
	}
	// Independent copies: training one must not change the next.
	m.Params()[0].Data[0] += 1
	m2, _ := LoadBase()
	if m2.Params()[0].Data[0] == m.Params()[0].Data[0] {
		t.Fatal("LoadBase returned shared weights")
	}
}

package backside

import (
	"errors"
	mrand "math/rand/v2"
	"strings"
	"testing"
)

// zxingModules is what ZXing's encoder makes of text with the back's level
// and mask: the modules, and the version (0 when it does not fit in any).
func zxingModules(t *testing.T, text string) ([][]bool, int) {
	t.Helper()
	m, v, err := zxingEncode(text)
	if err != nil {
		return nil, 0
	}
	return m, v
}

// TestQREncodeMatchesZXing: the back's own encoder draws, module for
// module, the code ZXing's draws, for alphanumeric text of every length up
// to past what version 18 holds (so every version, both count widths and
// every fill of the last codeword), for real signed codes, and for the
// edges of the choice between versions; text that needs more than
// version 18 is refused as too big, and text of another mode still goes to
// ZXing.
func TestQREncodeMatchesZXing(t *testing.T) {
	const alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
	rng := mrand.New(mrand.NewPCG(5, 8))
	random := func(n int) string {
		var b strings.Builder
		b.WriteString(codePrefix[:min(n, len(codePrefix))])
		for b.Len() < n {
			b.WriteByte(alnum[rng.IntN(len(alnum))])
		}
		return b.String()
	}
	var texts []string
	for n := 1; n <= 620; n++ {
		texts = append(texts, random(n))
	}
	texts = append(texts, "A", "0A", "A0", "HELLO WORLD", strings.Repeat("Z", 7), strings.Repeat(":", 500))
	f := setup(t)
	for i := range 20 {
		text, err := codeText(Document{ID: strings.Repeat("d", i*5+1), LGCode: "131016", Type: "JUMINHYO", IssuedOn: f.doc.IssuedOn,
			Facts: []Fact{{"氏名", strings.Repeat("山", i*4)}}}, 1, 1, f.key, fixedKey, defaultParams, 1240, 1754, payloadVersion)
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, text)
	}
	versions := map[int]bool{}
	for _, text := range texts {
		want, v := zxingModules(t, text)
		got, err := qrModules(text)
		if v == 0 || v > qrMaxVersion {
			if !errors.Is(err, errCodeTooBig) {
				t.Fatalf("%d characters (ZXing: version %d): %v, want too big", len(text), v, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%d characters: %v", len(text), err)
		}
		versions[v] = true
		if len(got) != len(want) {
			t.Fatalf("%d characters: %d modules a side, ZXing %d (version %d)", len(text), len(got), len(want), v)
		}
		for y := range want {
			for x := range want[y] {
				if got[y][x] != want[y][x] {
					t.Fatalf("%d characters, version %d: module (%d, %d) differs from ZXing's", len(text), v, x, y)
				}
			}
		}
	}
	for v := 1; v <= qrMaxVersion; v++ {
		if !versions[v] {
			t.Errorf("no text of version %d compared", v)
		}
	}
	// Other modes are ZXing's.
	for _, text := range []string{"0123456789", "lower case", "漢字"} {
		want, _ := zxingModules(t, text)
		got, err := qrModules(text)
		if err != nil || len(got) != len(want) {
			t.Fatalf("%q: %v", text, err)
		}
	}
}

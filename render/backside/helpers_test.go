package backside

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lgwan/issuance/internal/testkit"
	"github.com/lgwan/issuance/issuance"
)

// codeKey is a real P-256 code key made for the test binary, standing in
// for a municipality's seal code key from pki.
type codeKey struct {
	priv *ecdsa.PrivateKey
	id   string
	lg   string
}

func newCodeKey(lg string) (*codeKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	spki, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(spki)
	return &codeKey{priv: priv, id: hex.EncodeToString(sum[:8]), lg: lg}, nil
}

// SignCode signs with this key whatever lgCode it is asked for, so that
// tests can make a code signed with another municipality's key.
func (k *codeKey) SignCode(lgCode string, payload []byte) (string, []byte, error) {
	d := sha256.Sum256(payload)
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, d[:])
	return k.id, sig, err
}

// keyring is a published-key bundle.
type keyring map[string]*codeKey

func (r keyring) CodeKey(id string) (*ecdsa.PublicKey, string, bool) {
	k, ok := r[id]
	if !ok {
		return nil, "", false
	}
	return &k.priv.PublicKey, k.lg, true
}

// The fixture: a real 住民票 page as render issues it, front and back,
// the front rasterised by pdftoppm at the layout's resolution, and a code
// key. Made once per test binary.
type fixture struct {
	pdf   []byte              // front and back
	front map[int]*image.Gray // by dpi
	key   *codeKey
	keys  keyring
	doc   Document
}

var (
	fixOnce sync.Once
	fix     fixture
	fixErr  error
	frontMu sync.Mutex
)

func setup(t testing.TB) *fixture {
	t.Helper()
	testkit.Font(t)
	fixOnce.Do(func() {
		var f *fixture
		if f, fixErr = newFixture(); f != nil {
			fix = *f
		}
	})
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return &fix
}

// newFixture renders the fixture's page, with a new code key and, as every
// issued back has, a new scramble key (both from crypto/rand).
func newFixture() (*fixture, error) {
	key, err := newCodeKey("131016")
	if err != nil {
		return nil, err
	}
	doc := Document{ID: "0f8e2c1a-4b7d-4e59-9a3c-2d1e5f6a7b8c", LGCode: "131016", Type: "JUMINHYO",
		IssuedOn: time.Date(2025, 11, 21, 10, 30, 0, 0, issuance.Tokyo),
		Facts:    []Fact{{"氏名", "山田　太郎"}, {"生年月日", "昭和55年4月1日"}, {"住所", "東京都千代田区千代田一丁目1番1号"}, {"旧氏", "佐藤"}}}
	pdf, err := renderIssued(doc, key)
	if err != nil {
		return nil, err
	}
	return &fixture{pdf: pdf, front: map[int]*image.Gray{}, key: key, keys: keyring{key.id: key}, doc: doc}, nil
}

// frontAt is the fixture's page rasterised by pdftoppm at dpi, grey.
func (f *fixture) frontAt(t testing.TB, dpi int) *image.Gray {
	t.Helper()
	frontMu.Lock()
	defer frontMu.Unlock()
	if g, ok := f.front[dpi]; ok {
		return g
	}
	g := rasterise(t, f.pdf, dpi)
	f.front[dpi] = g
	return g
}

func rasterise(t testing.TB, pdf []byte, dpi int) *image.Gray {
	t.Helper()
	return rasterisePage(t, pdf, dpi, 1)
}

// rasterisePage is page page of pdf rasterised by pdftoppm at dpi, grey.
func rasterisePage(t testing.TB, pdf []byte, dpi, page int) *image.Gray {
	t.Helper()
	in := testkit.WriteTemp(t, "doc.pdf", pdf)
	dir := t.TempDir()
	out, err := exec.Command(testkit.Tool(t, "pdftoppm"), "-r", fmt.Sprint(dpi), "-gray", "-png", "-f", fmt.Sprint(page), "-l", fmt.Sprint(page), "-singlefile", in, filepath.Join(dir, "p")).CombinedOutput()
	if err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "p.png"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return toGray(img)
}

func writePNG(t testing.TB, path string, img image.Image) {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

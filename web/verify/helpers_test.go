package verify_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lgwan/issuance/internal/testkit"
	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/pki"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
	"github.com/lgwan/issuance/render"
	"github.com/lgwan/issuance/render/backside"
	"github.com/lgwan/issuance/web/verify"
)

// signer is a municipality's code key as pki's keyring uses it: ECDSA
// P-256 over SHA-256, named by pki.CodeKeyID. signAs, when set, is the
// key that really signs (a forger's), under this key's id.
type signer struct {
	priv, signAs *ecdsa.PrivateKey
}

func (s signer) SignCode(lgCode string, payload []byte) (string, []byte, error) {
	d := sha256.Sum256(payload)
	k := s.priv
	if s.signAs != nil {
		k = s.signAs
	}
	sig, err := ecdsa.SignASN1(rand.Reader, k, d[:])
	return pki.CodeKeyID(&s.priv.PublicKey), sig, err
}

// certificate is a real 住民票 as render issues it, front and back, with
// its back scanned at 300 dpi by poppler, as a relying party's scanner
// would give it.
type certificate struct {
	doc      backside.Document
	pdf      []byte
	backPNG  []byte // page 2 at 300 dpi, grey
	frontPNG []byte // page 1 at 300 dpi
	backJPEG []byte
}

var (
	fixOnce sync.Once
	fix     struct {
		keys          *pki.CodeKeys
		good, forged  certificate
		unknownSigned certificate
	}
	fixErr error
)

func fixture(t testing.TB) {
	t.Helper()
	testkit.Font(t)
	testkit.Tool(t, "pdftoppm")
	testkit.Tool(t, "qpdf")
	fixOnce.Do(func() { fixErr = makeFixture() })
	if fixErr != nil {
		t.Fatal(fixErr)
	}
}

func makeFixture() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	fix.keys = &pki.CodeKeys{}
	if err := fix.keys.Publish("131016", &key.PublicKey, time.Date(2025, 4, 1, 0, 0, 0, 0, issuance.Tokyo)); err != nil {
		return err
	}
	doc := backside.Document{ID: "0f8e2c1a-4b7d-4e59-9a3c-2d1e5f6a7b8c", LGCode: "131016", Type: "JUMINHYO",
		IssuedOn: time.Date(2025, 11, 21, 10, 30, 0, 0, issuance.Tokyo),
		Facts:    []backside.Fact{{Key: "氏名", Value: "山田　太郎"}, {Key: "生年月日", Value: "昭和55年4月1日"}, {Key: "住所", Value: "東京都千代田区千代田一丁目1番1号"}}}
	for c, s := range map[*certificate]signer{
		&fix.good:          {priv: key},
		&fix.forged:        {priv: key, signAs: other}, // the published key's id, another key's signature
		&fix.unknownSigned: {priv: other},
	} {
		if *c, err = issue(doc, s); err != nil {
			return err
		}
	}
	return nil
}

func issue(doc backside.Document, s signer) (certificate, error) {
	c := certificate{doc: doc}
	r, err := render.New(testkit.FontPath, render.WithBack(backside.DPI, func(_ context.Context, f render.FrontPage) (*image.Gray, error) {
		return backside.Compose(f.Image, doc, f.Page, f.Pages, s)
	}))
	if err != nil {
		return c, err
	}
	seal, err := render.DevSeal(testkit.FontPath, "千代田区長之印")
	if err != nil {
		return c, err
	}
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, issuance.Tokyo) }
	p := issuance.Person{
		LGCode: "131016", ID: "P01", FamilyName: "山田", GivenName: "太郎",
		FamilyKana: "やまだ", GivenKana: "たろう", BirthDate: day(1980, 4, 1), Sex: issuance.Male,
		HouseholdID: "H1", Relationship: "世帯主", Address: "東京都千代田区千代田一丁目1番1号",
		BecameResidentOn: day(2001, 4, 1), AddressSince: day(2015, 10, 5), Status: issuance.StatusResident,
	}
	c.pdf, _, err = r.Render(context.Background(), &issuance.Document{
		ID: doc.ID, Type: issuance.Juminhyo, Title: "住民票の写し",
		Municipality: issuance.Municipality{Code: "131016", Name: "千代田区", Prefecture: "東京都",
			Mayor: "千代田区長　山田　一郎", SealPNG: seal},
		IssuedAt:    doc.IssuedOn,
		Household:   issuance.Household{LGCode: "131016", ID: "H1", Head: p.ID, Address: p.Address, Members: []issuance.Person{p}},
		Persons:     []issuance.Person{p},
		Attestation: "この写しは、住民票の原本と相違ないことを証明する。",
	})
	if err != nil {
		return c, err
	}
	if c.backPNG, err = scanPage(c.pdf, 2); err != nil {
		return c, err
	}
	if c.frontPNG, err = scanPage(c.pdf, 1); err != nil {
		return c, err
	}
	img, err := png.Decode(bytes.NewReader(c.backPNG))
	if err != nil {
		return c, err
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		return c, err
	}
	c.backJPEG = b.Bytes()
	return c, nil
}

// scanPage is one page of pdf at 300 dpi, grey, as PNG.
func scanPage(pdf []byte, page int) ([]byte, error) {
	dir, err := os.MkdirTemp("", "verify-test-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	in := filepath.Join(dir, "c.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		return nil, err
	}
	out, err := exec.Command("pdftoppm", "-f", fmt.Sprint(page), "-l", fmt.Sprint(page), "-r", "300", "-gray", "-png", "-singlefile",
		in, filepath.Join(dir, "p")).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("pdftoppm: %v: %s", err, out)
	}
	return os.ReadFile(filepath.Join(dir, "p.png"))
}

// site is the verification site on a real rate limiter (PostgreSQL).
type site struct {
	handler http.Handler
	turns   chan struct{}
	clock   *issuance.ManualClock
}

func newSite(t testing.TB, o verify.Options) *site {
	t.Helper()
	fixture(t)
	db := dbtest.New(t)
	s := &site{clock: issuance.NewManualClock(time.Date(2026, 1, 15, 10, 0, 0, 0, issuance.Tokyo))}
	if o.Keys == nil {
		o.Keys = fix.keys
	}
	o.Limiter, o.Clock = registry.NewRateLimiter(db.Pool), s.clock
	var err error
	if s.handler, s.turns, err = verify.NewWithTurns(o); err != nil {
		t.Fatal(err)
	}
	return s
}

// upload posts fields (name -> file content) as multipart/form-data.
func (s *site) upload(t testing.TB, accept string, fields ...field) *httptest.ResponseRecorder {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, f := range fields {
		w, err := mw.CreateFormFile(f.name, f.file)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(f.data)
	}
	mw.Close()
	req := httptest.NewRequest(http.MethodPost, verify.Path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	req.RemoteAddr = "192.0.2.7:40000"
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	return rec
}

type field struct {
	name, file string
	data       []byte
}

func scan(file string, data []byte) field { return field{verify.Field, file, data} }

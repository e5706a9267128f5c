package pki_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digitorus/pkcs7"

	"github.com/lgwan/issuance/internal/testkit"
	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/render"

	. "github.com/lgwan/issuance/pki"
)

// The 1-page certificate PDF is rendered once by package render, as the
// server does, so what is signed here is what is signed in production.
var (
	pdfOnce   sync.Once
	pdfDoc    []byte
	pdfFixErr error
)

func testPDF(t testing.TB) []byte {
	t.Helper()
	testkit.Font(t)
	pdfOnce.Do(func() {
		var r *render.Renderer
		if r, pdfFixErr = render.New(testkit.FontPath); pdfFixErr != nil {
			return
		}
		var seal []byte
		if seal, pdfFixErr = render.DevSeal(testkit.FontPath, "千代田区長之印"); pdfFixErr != nil {
			return
		}
		p := issuance.Person{LGCode: "131016", ID: "P1", FamilyName: "山田", GivenName: "太郎",
			FamilyKana: "ヤマダ", GivenKana: "タロウ", BirthDate: time.Date(1980, 4, 1, 0, 0, 0, 0, issuance.Tokyo),
			Sex: issuance.Male, HouseholdID: "H1", Relationship: "世帯主", Address: "東京都千代田区千代田一丁目1番1号",
			BecameResidentOn: time.Date(2001, 4, 1, 0, 0, 0, 0, issuance.Tokyo), AddressSince: time.Date(2015, 10, 5, 0, 0, 0, 0, issuance.Tokyo),
			Status: issuance.StatusResident}
		doc := &issuance.Document{ID: "0f8e2c1a-4b7d-4e59-9a3c-2d1e5f6a7b8c", Type: issuance.Juminhyo, Title: "住民票の写し",
			Municipality: issuance.Municipality{Code: "131016", Name: "千代田区", Prefecture: "東京都", Mayor: "千代田区長　山田　一郎", SealPNG: seal},
			IssuedAt:     fixNow,
			Household:    issuance.Household{LGCode: "131016", ID: "H1", Head: "P1", Address: p.Address, Members: []issuance.Person{p}},
			Persons:      []issuance.Person{p},
			Attestation:  "この写しは、住民票の原本と相違ないことを証明する。"}
		var pages int
		if pdfDoc, pages, pdfFixErr = r.Render(context.Background(), doc); pdfFixErr == nil && pages != 1 {
			pdfFixErr = errors.New("render gave more than one page")
		}
	})
	if pdfFixErr != nil {
		t.Fatal(pdfFixErr)
	}
	return pdfDoc
}

func testSeal(t testing.TB) *Seal {
	t.Helper()
	k := testKeyring(t)
	s, err := k.Seal("131016")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testKeyring(t testing.TB) *Keyring {
	t.Helper()
	k, err := LoadKeyring([]SealFiles{fixLayout.SealFiles("131016"), fixLayout.SealFiles("272035")}, fixLayout.CodeKeys(),
		issuance.NewManualClock(fixNow))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// pdfsig runs Poppler's pdfsig; it exits non-zero for a broken signature,
// so the output is what is checked.
func pdfsig(t testing.TB, pdf []byte) string {
	t.Helper()
	out, _ := exec.Command(testkit.Tool(t, "pdfsig"), "-nocert", testkit.WriteTemp(t, "doc.pdf", pdf)).CombinedOutput()
	return string(out)
}

var signingTime = time.Date(2026, 4, 1, 10, 30, 15, 0, issuance.Tokyo)

func signTestPDF(t testing.TB) []byte {
	t.Helper()
	signed, err := SignPDF(testPDF(t), testSeal(t), PDFSignOptions{SigningTime: signingTime, Reason: "公印", Location: "千代田区"})
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func TestSignPDFPdfsigValid(t *testing.T) {
	orig := testPDF(t)
	signed := signTestPDF(t)
	if !bytes.HasPrefix(signed, orig) {
		t.Fatal("the signed file does not keep the original bytes as its prefix")
	}
	out := pdfsig(t, signed)
	for _, want := range []string{"Signature #1", "Signature Type: ETSI.CAdES.detached", "Signature Validation: Signature is Valid.",
		"Total document signed", "Signing Hash Algorithm: SHA-256", "千代田区長"} {
		if !strings.Contains(out, want) {
			t.Errorf("pdfsig does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Signature #2") {
		t.Errorf("pdfsig sees more than one signature:\n%s", out)
	}
	check, err := exec.Command(testkit.Tool(t, "qpdf"), "--check", testkit.WriteTemp(t, "doc.pdf", signed)).CombinedOutput()
	if err != nil || !strings.Contains(string(check), "No syntax or stream encoding errors found") {
		t.Errorf("qpdf --check: %v\n%s", err, check)
	}
	// The text is still there for everyone else.
	if txt := testkit.PDFText(t, signed); !strings.Contains(txt, "住民票の写し") {
		t.Errorf("pdftotext:\n%s", txt)
	}
}

func TestSignPDFFlippedByteBreaksSignature(t *testing.T) {
	signed := signTestPDF(t)
	br := byteRange(t, signed)
	// A byte inside the first page's content stream: in the signed range,
	// and harmless to the file's structure, so only the digest can tell.
	i := bytes.Index(signed, []byte("stream\n"))
	if i < 0 || i+20 > br[1] {
		t.Fatal("no stream in the first signed range")
	}
	for _, at := range []int{i + 20, br[2] + 10, len(signed) - 3} { // original, our update, the trailer
		bad := bytes.Clone(signed)
		bad[at] ^= 0x01
		out := pdfsig(t, bad)
		if !strings.Contains(out, "Signature Validation: Digest Mismatch.") {
			t.Errorf("byte %d flipped: pdfsig does not report a digest mismatch:\n%s", at, out)
		}
	}
}

// byteRange reads the /ByteRange of the last signature.
func byteRange(t testing.TB, pdf []byte) [4]int {
	t.Helper()
	m := regexp.MustCompile(`/ByteRange \[(\d+) (\d+) (\d+) (\d+) *\]`).FindAllSubmatch(pdf, -1)
	if len(m) == 0 {
		t.Fatal("no /ByteRange")
	}
	var br [4]int
	for i := range br {
		br[i], _ = strconv.Atoi(string(m[len(m)-1][i+1]))
	}
	return br
}

// The CMS itself, read back: PAdES B-B attributes, no signing-time, a
// digest over exactly the byte range, signed by the seal.
func TestSignPDFCMS(t *testing.T) {
	signed := signTestPDF(t)
	seal := testSeal(t)
	br := byteRange(t, signed)
	if br[0] != 0 || br[2]+br[3] != len(signed) || signed[br[1]] != '<' || signed[br[2]-1] != '>' {
		t.Fatalf("byte range %v does not cover the file around the /Contents string (len %d)", br, len(signed))
	}
	p7 := parseCMS(t, signed)
	if err := p7.Verify(); err != nil {
		t.Fatalf("CMS does not verify over the byte range: %v", err)
	}
	if len(p7.Signers) != 1 || !bytes.Equal(p7.GetOnlySigner().Raw, seal.Cert.Raw) {
		t.Fatal("the signer is not the seal certificate")
	}
	var st, sc bool
	for _, a := range p7.Signers[0].AuthenticatedAttributes {
		st = st || a.Type.Equal(pkcs7.OIDAttributeSigningTime)
		if a.Type.Equal(OIDSigningCertificateV2) {
			var v struct {
				Certs []struct {
					Hash   []byte
					Serial asn1.RawValue
				}
			}
			if _, err := asn1.Unmarshal(a.Value.Bytes, &v); err != nil || len(v.Certs) != 1 {
				t.Fatalf("signing-certificate-v2 does not parse: %v", err)
			}
			h := sha256.Sum256(seal.Cert.Raw)
			sc = bytes.Equal(v.Certs[0].Hash, h[:])
		}
	}
	if st {
		t.Error("CMS carries a signing-time attribute (PAdES B-B forbids it)")
	}
	if !sc {
		t.Error("no signing-certificate-v2 attribute with the seal certificate's SHA-256")
	}
	if !bytes.Contains(signed, []byte("/M (D:20260401103015+09'00')")) {
		t.Error("the signature dictionary's /M is not the signing time")
	}
	if !bytes.Contains(signed, []byte("/SigFlags 3")) || !bytes.Contains(signed, []byte("/Prev ")) {
		t.Error("no /SigFlags 3 or no /Prev")
	}
}

// Signing a signed file adds a second revision; both signatures stay valid
// and only the second covers the whole file.
func TestSignPDFTwice(t *testing.T) {
	k := testKeyring(t)
	once := signTestPDF(t)
	twice, err := k.SignPDF("272035", once, signingTime.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	out := pdfsig(t, twice)
	if strings.Count(out, "Signature is Valid.") != 2 || !strings.Contains(out, "豊中市長") {
		t.Errorf("pdfsig:\n%s", out)
	}
	if strings.Count(out, "Total document signed") != 1 {
		t.Errorf("want exactly the last signature to cover the whole file:\n%s", out)
	}
}

func TestSignPDFBadInput(t *testing.T) {
	seal := testSeal(t)
	orig := testPDF(t)
	opts := PDFSignOptions{SigningTime: signingTime}
	xrefAt := bytes.LastIndex(orig, []byte("\nxref"))
	cases := map[string][]byte{
		"empty":     nil,
		"not a pdf": []byte("hello"),
		"truncated": orig[:len(orig)/2],
		"no xref":   bytes.Replace(orig, []byte("startxref"), []byte("startxreF"), 1),
		// A cross-reference stream where the table should be.
		"xref stream": append(bytes.Clone(orig[:xrefAt+1]), []byte("99 0 obj\n<< /Type /XRef >>\nstream\nendstream\nendobj\nstartxref\n"+strconv.Itoa(xrefAt+1)+"\n%%EOF\n")...),
		"encrypted":   bytes.Replace(orig, []byte("trailer\n<<"), []byte("trailer\n<< /Encrypt 1 0 R"), 1),
		"loop":        bytes.Replace(orig, []byte("trailer\n<<"), []byte("trailer\n<< /Prev "+strconv.Itoa(xrefAt+1)), 1),
	}
	for name, pdf := range cases {
		if _, err := SignPDF(pdf, seal, opts); !errors.Is(err, ErrPDF) {
			t.Errorf("%s: error %v, want ErrPDF", name, err)
		}
	}
	if _, err := SignPDF(orig, seal, PDFSignOptions{}); err == nil {
		t.Error("signed without a signing time")
	}
	if _, err := SignPDF(orig, nil, opts); err == nil {
		t.Error("signed without a seal")
	}
}

// The seal's own certificate chain verifies the signature to the seal CA,
// as a relying party with the kit's seal-ca.pem would.
func TestSignPDFChainsToSealCA(t *testing.T) {
	p7 := parseCMS(t, signTestPDF(t))
	pool, err := CertPool(fixLayout.KitSealCA())
	if err != nil {
		t.Fatal(err)
	}
	if err := p7.VerifyWithChainAtTime(pool, fixNow); err != nil {
		t.Fatalf("does not chain to the kit's seal CA: %v", err)
	}
}

// parseCMS returns the last signature's CMS with the signed bytes as content.
func parseCMS(t testing.TB, signed []byte) *pkcs7.PKCS7 {
	t.Helper()
	br := byteRange(t, signed)
	all, err := hex.DecodeString(string(signed[br[1]+1 : br[2]-1]))
	if err != nil {
		t.Fatal(err)
	}
	var raw asn1.RawValue // the CMS, without the zeros padding the reserved room
	if _, err := asn1.Unmarshal(all, &raw); err != nil {
		t.Fatal(err)
	}
	p7, err := pkcs7.Parse(raw.FullBytes)
	if err != nil {
		t.Fatalf("CMS does not parse: %v", err)
	}
	p7.Content = append(append([]byte(nil), signed[:br[1]]...), signed[br[2]:]...)
	return p7
}

package verify_test

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"html"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lgwan/issuance/pki"
	"github.com/lgwan/issuance/render/backside"
	"github.com/lgwan/issuance/web"
	"github.com/lgwan/issuance/web/verify"
)

// expected is what verify-scan prints for the fixture's certificate,
// written out from the document the renderer was given.
func expected(t *testing.T) []byte {
	t.Helper()
	res := backside.Result{Valid: true, DocumentID: fix.good.doc.ID, LGCode: "131016", Type: "JUMINHYO",
		IssuedOn: "2025-11-21", Facts: map[string]string{}}
	for _, f := range fix.good.doc.Facts {
		res.Facts[f.Key] = f.Value
	}
	var b bytes.Buffer
	json.NewEncoder(&b).Encode(res)
	return b.Bytes()
}

// A real back side, scanned at 300 dpi, verifies through the handler: the
// page shows the recovered front (an inline PNG of an A4 page) beside the
// verified facts; JSON is verify-scan's, byte for byte, for a PNG, a JPEG
// and the issued PDF itself (its back is page 2).
func TestValidScan(t *testing.T) {
	s := newSite(t, verify.Options{})

	rec := s.upload(t, "", scan("back.png", fix.good.backPNG))
	body := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.Contains(body, `data-valid="true"`) {
		t.Fatalf("%d\n%s", rec.Code, body)
	}
	if rec.Header().Get("Content-Security-Policy") != web.CSP || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("security headers: %v", rec.Header())
	}
	for _, want := range []string{fix.good.doc.ID, ">131016<", verify.Message("ja", "type.JUMINHYO"), `datetime="2025-11-21"`,
		"山田　太郎", "昭和55年4月1日", "東京都千代田区千代田一丁目1番1号", verify.Message("ja", "result.valid.title")} {
		if !strings.Contains(body, want) {
			t.Errorf("the page does not show %q", want)
		}
	}
	m := regexp.MustCompile(`<img id="front" src="data:image/png;base64,([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		i := strings.Index(body, "<img")
		t.Fatalf("no inline front image: %.200s", body[max(i, 0):])
	}
	raw, err := base64.StdEncoding.DecodeString(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(raw))
	if err != nil || cfg.Width*297 < cfg.Height*210*99/100 || cfg.Width*297 > cfg.Height*210*101/100 {
		t.Fatalf("front %dx%d (%v): not an A4 page", cfg.Width, cfg.Height, err)
	}

	for name, data := range map[string][]byte{"back.png": fix.good.backPNG, "back.jpg": fix.good.backJPEG, "issued.pdf": fix.good.pdf} {
		rec := s.upload(t, "application/json", scan(name, data))
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %s\n%s", name, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
		if !bytes.Equal(rec.Body.Bytes(), expected(t)) {
			t.Errorf("%s: JSON\n%s\nwant verify-scan's\n%s", name, rec.Body, expected(t))
		}
	}
}

// Scans that do not verify say why, in the page's language and in JSON:
// the front side is no back side; a back signed with a key that is not
// published; a back whose signature is another key's under the published
// key's id.
func TestScanThatDoesNotVerify(t *testing.T) {
	s := newSite(t, verify.Options{})
	for _, c := range []struct {
		name   string
		data   []byte
		reason string
		err    error
	}{
		{"front side", fix.good.frontPNG, "noBackSide", backside.ErrNoBackSide},
		{"unknown key", fix.unknownSigned.backPNG, "unknownKey", backside.ErrUnknownKey},
		{"forged signature", fix.forged.backPNG, "badSignature", backside.ErrBadSignature},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := s.upload(t, "", scan("scan.png", c.data))
			if rec.Code != http.StatusUnprocessableEntity || reasonOf(rec.Body.String()) != c.reason {
				t.Fatalf("%d, reason %q; want 422, %s", rec.Code, reasonOf(rec.Body.String()), c.reason)
			}
			if !strings.Contains(rec.Body.String(), verify.Message("ja", "reason."+c.reason)) || strings.Contains(rec.Body.String(), "山田") {
				t.Errorf("the page does not say why in Japanese, or shows what the code claims")
			}
			rec = s.upload(t, "application/json", scan("scan.png", c.data))
			var res backside.Result
			if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || rec.Code != http.StatusUnprocessableEntity ||
				res.Valid || !strings.Contains(res.Error, c.err.Error()) || res.DocumentID != "" || len(res.Facts) != 0 {
				t.Fatalf("JSON %d %s", rec.Code, rec.Body)
			}
		})
	}
}

var reasonRE = regexp.MustCompile(`data-reason="([a-zA-Z]+)"`)

func reasonOf(body string) string {
	if m := reasonRE.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

// Hostile uploads each get a clear answer, quickly and without the node
// allocating more than a small multiple of the upload: nothing is decoded
// beyond a header that declares too much.
func TestHostileUploads(t *testing.T) {
	s := newSite(t, verify.Options{})
	jsPDF := pdfWith("/OpenAction 4 0 R", "[0 0 595 842]", "<< /S /JavaScript /JS (app.alert\\(1\\);) >>")
	// The same script inside a compressed object stream, where no byte
	// search finds it.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "js.pdf"), jsPDF, 0o600)
	if out, err := exec.Command("qpdf", "--object-streams=generate", filepath.Join(dir, "js.pdf"), filepath.Join(dir, "hidden.pdf")).CombinedOutput(); err != nil {
		t.Fatalf("qpdf: %v %s", err, out)
	}
	hidden, _ := os.ReadFile(filepath.Join(dir, "hidden.pdf"))
	if bytes.Contains(hidden, []byte("JavaScript")) {
		t.Fatal("qpdf left the script in clear")
	}
	wide := image.NewGray(image.Rect(0, 0, 20000, 800))
	for i := range wide.Pix {
		wide.Pix[i] = uint8(i * 7)
	}
	var widePNG bytes.Buffer
	png.Encode(&widePNG, wide)
	jpg := fix.good.backJPEG

	for _, c := range []struct {
		name   string
		data   []byte
		reason string
		says   string
	}{
		{"decompression bomb", pngBomb(100000, 100000, 16<<20), "tooLarge", "100000×100000"},
		{"20,000-pixel image", widePNG.Bytes(), "tooLarge", "at most 16384 a side"},
		{"truncated JPEG", jpg[:len(jpg)/2], "damaged", "damaged or incomplete"},
		{"PDF with a script", jsPDF, "active", "scripts"},
		{"PDF with a hidden script", hidden, "active", "scripts"},
		{"PDF page of a field's size", pdfWith("", "[0 0 200000 200000]", "<< >>"), "tooLarge", "at most 16384 a side"},
		{"not a PDF after all", []byte("%PDF-1.7\n" + strings.Repeat("junk ", 100)), "damaged", "damaged"},
		{"a text file", []byte("this is not a scan"), "format", "not a PNG, JPEG or PDF"},
		{"an empty image", []byte("\x89PNG\r\n\x1a\n"), "damaged", "damaged"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			rec := s.upload(t, "application/json", scan("upload", c.data))
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			var res backside.Result
			if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || rec.Code != http.StatusUnprocessableEntity ||
				res.Valid || !strings.Contains(res.Error, c.says) {
				t.Fatalf("%d %s; want 422 saying %q", rec.Code, rec.Body, c.says)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(8*len(c.data))+32<<20 {
				t.Errorf("answering took %d MiB", alloc>>20)
			}
			if took > 20*time.Second {
				t.Errorf("answering took %s", took)
			}
			rec = s.upload(t, "", scan("upload", c.data))
			if got := reasonOf(rec.Body.String()); got != c.reason || !strings.Contains(rec.Body.String(), verify.Message("ja", "reason."+c.reason)) {
				t.Errorf("page reason %q, want %s", got, c.reason)
			}
		})
	}
}

// pngBomb is a grey PNG declaring w×h pixels whose image data is zeros
// compressed from n bytes: a small file that would take w×h bytes.
func pngBomb(w, h uint32, n int) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 0 // 8-bit grey
	chunk("IHDR", ihdr)
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	zw.Write(make([]byte, n))
	zw.Close()
	chunk("IDAT", z.Bytes())
	chunk("IEND", nil)
	return b.Bytes()
}

// pdfWith is a one-page PDF: catalog entries, the page's MediaBox and a
// fourth object.
func pdfWith(catalog, mediaBox, obj4 string) []byte {
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R " + catalog + " >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox " + mediaBox + " >>",
		obj4,
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n")
	var offs []int
	for i, o := range objs {
		offs = append(offs, b.Len())
		b.WriteString(strconv.Itoa(i+1) + " 0 obj\n" + o + "\nendobj\n")
	}
	x := b.Len()
	b.WriteString("xref\n0 " + strconv.Itoa(len(objs)+1) + "\n0000000000 65535 f \n")
	for _, o := range offs {
		b.WriteString(strings.Repeat("0", 10-len(strconv.Itoa(o))) + strconv.Itoa(o) + " 00000 n \n")
	}
	b.WriteString("trailer\n<< /Size " + strconv.Itoa(len(objs)+1) + " /Root 1 0 R >>\nstartxref\n" + strconv.Itoa(x) + "\n%%EOF\n")
	return b.Bytes()
}

// Requests the site cannot take are refused with the field named: no
// file, a field the form does not have, the field twice, another encoding,
// a parameter, too large an upload, another method.
func TestBadRequests(t *testing.T) {
	s := newSite(t, verify.Options{MaxUpload: 1 << 20})
	for _, c := range []struct {
		name   string
		fields []field
		status int
		says   string
	}{
		{"no file", []field{scan("", nil)}, http.StatusBadRequest, "no file"},
		{"no field", nil, http.StatusBadRequest, "no file"},
		{"unknown field", []field{scan("a.png", fix.good.backPNG), {"comment", "", []byte("x")}}, http.StatusBadRequest, "comment"},
		{"field twice", []field{scan("a.png", []byte("x")), scan("b.png", []byte("y"))}, http.StatusBadRequest, "more than once"},
		{"too large", []field{scan("big.png", make([]byte, 1<<20+1))}, http.StatusRequestEntityTooLarge, "larger than 1 MiB"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := s.upload(t, "application/json", c.fields...)
			var res backside.Result
			if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || rec.Code != c.status || res.Valid || !strings.Contains(res.Error, c.says) {
				t.Fatalf("%d %s; want %d saying %q", rec.Code, rec.Body, c.status, c.says)
			}
			rec = s.upload(t, "", c.fields...)
			if rec.Code != c.status || !strings.Contains(rec.Body.String(), `id="notice"`) {
				t.Fatalf("page: %d %s", rec.Code, rec.Body)
			}
		})
	}
	for _, c := range []struct {
		method, target, ctype string
		status                int
	}{
		{http.MethodPost, verify.Path, "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{http.MethodPost, verify.Path + "?lang=en&debug=1", "multipart/form-data; boundary=x", http.StatusBadRequest},
		{http.MethodPut, verify.Path, "", http.StatusMethodNotAllowed},
		{http.MethodGet, verify.Path + "/other", "", http.StatusNotFound},
	} {
		req := httptest.NewRequest(c.method, c.target, strings.NewReader("scan=x"))
		req.Header.Set("Content-Type", c.ctype)
		rec := httptest.NewRecorder()
		s.handler.ServeHTTP(rec, req)
		if rec.Code != c.status {
			t.Errorf("%s %s %s: %d, want %d", c.method, c.target, c.ctype, rec.Code, c.status)
		}
	}
	// The form, in every language, with the bound in its hint.
	for _, lang := range web.Languages {
		rec := httptest.NewRecorder()
		s.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, verify.Path+"?lang="+lang, nil))
		body := rec.Body.String()
		if rec.Code != http.StatusOK || !strings.Contains(body, `enctype="multipart/form-data"`) || !strings.Contains(body, `name="scan"`) ||
			!strings.Contains(body, `lang="`+lang+`"`) || !strings.Contains(body, "1 MB") {
			t.Errorf("%s: form %d\n%s", lang, rec.Code, body)
		}
	}
}

// Uploads are limited per address across nodes (the limiter is
// PostgreSQL's): over the limit, 429 with Retry-After until the window
// ends; another address is not affected; the next window admits again.
func TestRateLimit(t *testing.T) {
	s := newSite(t, verify.Options{PerAddress: verify.Limit{Tries: 2, Window: time.Hour}})
	for i := range 2 {
		if rec := s.upload(t, "application/json", scan("x", []byte("not a scan"))); rec.Code != http.StatusUnprocessableEntity {
			t.Fatalf("upload %d: %d", i, rec.Code)
		}
	}
	rec := s.upload(t, "application/json", scan("back.png", fix.good.backPNG))
	var res backside.Result
	json.Unmarshal(rec.Body.Bytes(), &res)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "3600" || res.Valid || res.Error == "" {
		t.Fatalf("third upload: %d, Retry-After %q, %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	rec = s.upload(t, "", scan("back.png", fix.good.backPNG))
	if rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), verify.Message("ja", "tooMany.title")) ||
		!strings.Contains(rec.Body.String(), "60") {
		t.Fatalf("page: %d %s", rec.Code, rec.Body)
	}
	// Another address.
	req := httptest.NewRequest(http.MethodPost, verify.Path, strings.NewReader(""))
	req.Header.Set("Content-Type", "multipart/form-data; boundary=x")
	req.RemoteAddr = "198.51.100.1:5555"
	other := httptest.NewRecorder()
	s.handler.ServeHTTP(other, req)
	if other.Code == http.StatusTooManyRequests {
		t.Fatal("another address is limited too")
	}
	s.clock.Advance(time.Hour)
	if rec := s.upload(t, "application/json", scan("back.png", fix.good.backPNG)); rec.Code != http.StatusOK {
		t.Fatalf("next window: %d %s", rec.Code, rec.Body)
	}
}

// A node verifies at most Concurrency uploads at once: with every turn
// taken, an upload waits QueueWait and is told to retry; uploads at once
// beyond the turns wait for one and all verify.
func TestConcurrencyBound(t *testing.T) {
	s := newSite(t, verify.Options{Concurrency: 1, QueueWait: 50 * time.Millisecond})
	s.turns <- struct{}{}
	rec := s.upload(t, "application/json", scan("back.png", fix.good.backPNG))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("no turn: %d %s", rec.Code, rec.Body)
	}
	<-s.turns

	s = newSite(t, verify.Options{Concurrency: 1, QueueWait: 5 * time.Minute})
	var wg sync.WaitGroup
	codes := make([]int, 3)
	for i := range codes {
		wg.Go(func() { codes[i] = s.upload(t, "application/json", scan("back.png", fix.good.backPNG)).Code })
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("upload %d: %d", i, c)
		}
	}
}

// Nothing uploaded is stored: a PDF passes through a temporary file that
// is unlinked before any tool reads it, so the temporary directory stays
// empty, for a valid PDF and a refused one alike.
func TestNothingStored(t *testing.T) {
	s := newSite(t, verify.Options{})
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	if rec := s.upload(t, "application/json", scan("issued.pdf", fix.good.pdf)); rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if rec := s.upload(t, "application/json", scan("js.pdf", pdfWith("/OpenAction 4 0 R", "[0 0 595 842]", "<< /S /JavaScript /JS (x) >>"))); rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Fatalf("left in the temporary directory: %v", left)
	}
}

// The published keys are re-read when their file changes: a key published
// after start verifies without a restart.
func TestPublishedKeysReload(t *testing.T) {
	fixture(t)
	path := filepath.Join(t.TempDir(), "code-keys.json")
	empty, _ := (&pki.CodeKeys{}).Marshal()
	os.WriteFile(path, empty, 0o600)
	keys, err := verify.LoadPublishedKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	s := newSite(t, verify.Options{Keys: keys})
	if rec := s.upload(t, "application/json", scan("back.png", fix.good.backPNG)); rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("before publishing: %d %s", rec.Code, rec.Body)
	}
	published, _ := fix.keys.Marshal()
	os.WriteFile(path+".new", published, 0o600)
	os.Rename(path+".new", path)
	if rec := s.upload(t, "application/json", scan("back.png", fix.good.backPNG)); rec.Code != http.StatusOK {
		t.Fatalf("after publishing: %d %s", rec.Code, rec.Body)
	}
}

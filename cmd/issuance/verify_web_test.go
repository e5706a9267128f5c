package main

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// TestVerifySiteMounted: the web port serves the verification site with
// the server's published code keys: a certificate issued through the
// centre's flow, its back scanned at 300 dpi, uploaded over HTTPS, answers
// in JSON exactly what verify-scan prints for the same file.
func TestVerifySiteMounted(t *testing.T) {
	ts := startServer(t)
	_, res, _, scan := issuedBackScan(t, ts)
	data, _ := os.ReadFile(scan)

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	w, _ := mw.CreateFormFile("scan", "back.png")
	w.Write(data)
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, ts.webURL()+"verify", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Accept", "application/json")
	resp, err := kitWebClient(t, ts.kit).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	code, want := runVerifyScan(t, "--keys", filepath.Join(ts.kit.Dir, "seal", "code-keys.json"), scan)
	if resp.StatusCode != http.StatusOK || code != 0 || string(got) != want || !bytes.Contains(got, []byte(res.IssuanceID)) {
		t.Fatalf("POST /verify: %d\n%s\nverify-scan (exit %d):\n%s", resp.StatusCode, got, code, want)
	}
}

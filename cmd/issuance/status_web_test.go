package main

import (
	"io"
	"net/url"
	"strings"
	"testing"
)

// TestStatusPageMounted: the web port serves the resident's status page
// (web/status) with its limits in the node's database: the form, and an
// answer for a number nobody has.
func TestStatusPageMounted(t *testing.T) {
	ts := startServer(t)
	base := ts.webURL()
	client := kitWebClient(t, ts.kit)
	resp, err := client.Get(base + "status?lang=en")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `<html lang="en">`) || !strings.Contains(string(b), `name="applicationNumber"`) {
		t.Fatalf("GET /status: %d\n%s", resp.StatusCode, b)
	}
	resp, err = client.PostForm(base+"status?lang=ko", url.Values{"applicationNumber": {"1234-5678-9012"}, "birthDate": {"1990-04-01"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `data-status="UNKNOWN"`) || resp.Header.Get("Content-Language") != "ko" {
		t.Fatalf("POST /status: %d %v\n%s", resp.StatusCode, resp.Header, b)
	}
}

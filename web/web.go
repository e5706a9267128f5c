package web

import (
	"embed"
	"net"
	"net/http"
	"strings"
)

// Languages are the languages of the resident-facing pages, as BCP 47 tags
// (docs/interface.md): Japanese first, the default.
var Languages = []string{"ja", "en", "zh-Hans", "zh-Hant", "ko", "es", "pt"}

// Language picks the page language: ?lang= when it names one of Languages,
// else the first of Accept-Language that matches one (zh-CN and zh-SG read
// as zh-Hans, zh-TW, zh-HK and zh-MO as zh-Hant, es-MX as es, pt-BR as pt),
// else Japanese.
func Language(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l != "" {
		for _, x := range Languages {
			if strings.EqualFold(l, x) {
				return x
			}
		}
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(q) == "q=0" {
			continue
		}
		if l := match(strings.ToLower(strings.TrimSpace(tag))); l != "" {
			return l
		}
	}
	return "ja"
}

func match(tag string) string {
	switch {
	case tag == "zh-hant" || strings.HasPrefix(tag, "zh-hant-") || tag == "zh-tw" || tag == "zh-hk" || tag == "zh-mo":
		return "zh-Hant"
	case tag == "zh" || strings.HasPrefix(tag, "zh-"):
		return "zh-Hans"
	}
	base, _, _ := strings.Cut(tag, "-")
	for _, x := range Languages {
		if base == x {
			return x
		}
	}
	return ""
}

// CSP is the Content-Security-Policy of every page: nothing from outside,
// no inline script or style, forms post only to this origin, no framing.
const CSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

// Secure sets the headers every page of the web sites carries. Pages may
// hold personal data, so nothing is cached anywhere.
func Secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", CSP)
		hd.Set("Cache-Control", "no-store")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}

// ClientAddress is the address the request came from, without the port.
// No forwarding header is believed: the server is reached directly on
// LGWAN, and a header would let a caller choose its own rate-limit key.
func ClientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

//go:embed assets
var assets embed.FS

// Assets serves the embedded style sheet and images under /assets/.
func Assets() http.Handler { return http.FileServerFS(assets) }

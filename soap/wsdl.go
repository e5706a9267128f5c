package soap

import (
	"bytes"
	_ "embed"
	"net/http"
	"regexp"
)

// wsdlDoc is the contract in machine-readable form. Its soap:address holds
// wsdlLocation, which is replaced on each GET by the address the client used.
//
//go:embed wsdl/wide-area-v4.wsdl
var wsdlDoc []byte

const wsdlLocation = `location="https://localhost:8443/wide-area/v4"`

// WSDL returns the embedded WSDL as written, for tools and tests.
func WSDL() []byte { return bytes.Clone(wsdlDoc) }

// validHost accepts a DNS name, IPv4 or bracketed IPv6 address, with an
// optional port. The Host header is the client's, so anything else is
// refused rather than written into the document.
var validHost = regexp.MustCompile(`^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$`)

func (s *Server) serveWSDL(w http.ResponseWriter, r *http.Request) {
	if !validHost.MatchString(r.Host) {
		http.Error(w, "bad Host", http.StatusBadRequest)
		return
	}
	loc := `location="https://` + r.Host + Path + `"`
	doc := bytes.Replace(wsdlDoc, []byte(wsdlLocation), []byte(loc), 1)
	w.Header().Set("Content-Type", contentType)
	w.Write(doc)
}

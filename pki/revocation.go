package pki

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lgwan/issuance/issuance"
)

// RevocationConfig says where revocation answers come from.
type RevocationConfig struct {
	// CRLDir holds CRL files, DER or PEM, any name ending in .crl; every
	// one is read at each Refresh.
	CRLDir string
	// CRLURLs are fetched with HTTP GET at each Refresh (the CRL
	// distribution points, reached over LGWAN).
	CRLURLs []string
	// OCSPURL, when set, is asked about every certificate in addition to
	// the CRL; both must say "good".
	OCSPURL string
	// Client fetches CRLs and asks the OCSP responder; nil means a client
	// with a 10-second time-out.
	Client *http.Client
}

// MaxCRLSize bounds one CRL file or download. The JPKI CRLs list every
// certificate revoked before its expiry, so they are large, but not this large.
const MaxCRLSize = 256 << 20

// ocspCacheMax bounds the OCSP answers kept; past it expired answers are
// dropped, and if that is not enough the cache starts over.
const ocspCacheMax = 100_000

// Revocation answers "is this certificate revoked?" from CRLs it holds in
// memory (fetched by Refresh, which the server calls on a schedule) and, when
// configured, from an OCSP responder. It fails closed: without a current CRL
// for the issuer the answer is RevocationUnknown. Safe for concurrent use.
type Revocation struct {
	roots  rootSet
	clock  issuance.Clock
	cfg    RevocationConfig
	client *http.Client

	mu   sync.RWMutex
	crls map[string]*crl // by the issuing root's hex key id

	ocspMu sync.Mutex
	ocsp   map[string]ocspAnswer // by issuer key id and serial
}

// crl is a verified CRL reduced to what a lookup needs.
type crl struct {
	issuer     *x509.Certificate
	number     *big.Int
	thisUpdate time.Time
	nextUpdate time.Time
	revoked    map[string]int // serial, as big.Int.Text(16) → CRL reason code (RFC 5280 §5.3.1)
	source     string
}

// NewRevocation returns a Revocation for the certificates issued by roots. It
// holds no CRL until the first Refresh.
func NewRevocation(roots []*x509.Certificate, clock issuance.Clock, cfg RevocationConfig) (*Revocation, error) {
	if cfg.CRLDir == "" && len(cfg.CRLURLs) == 0 {
		return nil, errors.New("pki: revocation needs a CRL directory or URL")
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Revocation{roots: newRootSet(roots), clock: clock, cfg: cfg, client: client,
		crls: make(map[string]*crl), ocsp: make(map[string]ocspAnswer)}, nil
}

// Refresh reads every configured CRL source, checks each CRL's signature
// against the root its authority key id names, and keeps per root the
// newest (highest CRL number) that is current. A source that fails is
// reported in the error, but never removes or replaces what is held: the
// CRL held before stays in use until its own nextUpdate. It also drops
// expired OCSP answers.
func (r *Revocation) Refresh(ctx context.Context) error {
	now := r.clock.Now()
	var errs []error
	found := make(map[string]*crl)
	take := func(source string, data []byte, err error) {
		if err == nil {
			var c *crl
			if c, err = r.parseCRL(data, now); err == nil {
				c.source = source
				id := hex.EncodeToString(c.issuer.SubjectKeyId)
				if old := found[id]; old == nil || c.number.Cmp(old.number) > 0 {
					found[id] = c
				}
				return
			}
		}
		errs = append(errs, fmt.Errorf("CRL %s: %w", source, err))
	}
	if r.cfg.CRLDir != "" {
		paths, err := filepath.Glob(filepath.Join(r.cfg.CRLDir, "*.crl"))
		if err == nil && len(paths) == 0 {
			err = errors.New("no *.crl file")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("CRL directory %s: %w", r.cfg.CRLDir, err))
		}
		for _, p := range paths {
			data, err := readLimited(p, MaxCRLSize)
			take(p, data, err)
		}
	}
	for _, u := range r.cfg.CRLURLs {
		data, err := r.fetch(ctx, u)
		take(u, data, err)
	}

	r.mu.Lock()
	for id, c := range found {
		old := r.crls[id]
		switch {
		case old == nil || c.number.Cmp(old.number) > 0:
			r.crls[id] = c
		case c.number.Cmp(old.number) < 0:
			// A source went back in time: keep the newer one held.
			errs = append(errs, fmt.Errorf("CRL %s: number %s is older than the held %s", c.source, c.number, old.number))
		}
	}
	r.mu.Unlock()

	r.ocspMu.Lock()
	for k, a := range r.ocsp {
		if !now.Before(a.nextUpdate) {
			delete(r.ocsp, k)
		}
	}
	r.ocspMu.Unlock()
	return errors.Join(errs...)
}

// CRLStatus describes a CRL held, for the status page and readiness.
type CRLStatus struct {
	IssuerKeyID            string
	Number                 string
	ThisUpdate, NextUpdate time.Time
	Revoked                int
	Source                 string
}

// CRLs lists the CRLs held, by issuer key id.
func (r *Revocation) CRLs() []CRLStatus {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []CRLStatus
	for id, c := range r.crls {
		out = append(out, CRLStatus{IssuerKeyID: id, Number: c.number.String(), ThisUpdate: c.thisUpdate.In(issuance.Tokyo),
			NextUpdate: c.nextUpdate.In(issuance.Tokyo), Revoked: len(c.revoked), Source: c.source})
	}
	slices.SortFunc(out, func(a, b CRLStatus) int { return strings.Compare(a.IssuerKeyID, b.IssuerKeyID) })
	return out
}

var (
	oidExtAuthorityKeyID = asn1.ObjectIdentifier{2, 5, 29, 35}
	oidExtCRLNumber      = asn1.ObjectIdentifier{2, 5, 29, 20}
)

// parseCRL parses and verifies one CRL: signed by a configured root chosen
// by key id, complete (no critical extension we do not understand: a delta
// or partitioned CRL must not pass for the whole list), and current at now.
func (r *Revocation) parseCRL(data []byte, now time.Time) (*crl, error) {
	if block, _ := pem.Decode(data); block != nil {
		if block.Type != "X509 CRL" {
			return nil, fmt.Errorf("PEM block %q, want X509 CRL", block.Type)
		}
		data = block.Bytes
	}
	l, err := x509.ParseRevocationList(data)
	if err != nil {
		return nil, err
	}
	if len(l.AuthorityKeyId) == 0 {
		return nil, errors.New("no authority key identifier")
	}
	issuer := r.roots.issuerOf(l.AuthorityKeyId, now, func(root *x509.Certificate) error { return l.CheckSignatureFrom(root) })
	if issuer == nil {
		return nil, fmt.Errorf("not signed by a configured root (authority key id %x)", l.AuthorityKeyId)
	}
	for _, e := range l.Extensions {
		if e.Critical && !e.Id.Equal(oidExtAuthorityKeyID) && !e.Id.Equal(oidExtCRLNumber) {
			return nil, fmt.Errorf("unhandled critical extension %v", e.Id)
		}
	}
	if l.Number == nil {
		return nil, errors.New("no CRL number")
	}
	if l.NextUpdate.IsZero() {
		return nil, errors.New("no nextUpdate")
	}
	if now.Before(l.ThisUpdate) {
		return nil, fmt.Errorf("thisUpdate %s is in the future", l.ThisUpdate.In(issuance.Tokyo).Format(time.RFC3339))
	}
	if !now.Before(l.NextUpdate) {
		return nil, fmt.Errorf("%w at %s", ErrCRLStale, l.NextUpdate.In(issuance.Tokyo).Format(time.RFC3339))
	}
	c := &crl{issuer: issuer, number: l.Number, thisUpdate: l.ThisUpdate, nextUpdate: l.NextUpdate,
		revoked: make(map[string]int, len(l.RevokedCertificateEntries))}
	for _, e := range l.RevokedCertificateEntries {
		c.revoked[e.SerialNumber.Text(16)] = e.ReasonCode
	}
	return c, nil
}

// ReasonCertificateHold is the CRL and OCSP reason code (RFC 5280 §5.3.1)
// the server tells apart from other revocations: a certificate on hold
// belongs to a card reported lost or suspended (一時停止), which may be
// released again, so the resident is told so rather than that the card is
// revoked. The development PKI (pki/devpki) issues holds with it.
const ReasonCertificateHold = 6

// check is the Verifier's question: cert, issued by issuer, at now.
func (r *Revocation) check(ctx context.Context, cert, issuer *x509.Certificate, now time.Time) error {
	id := hex.EncodeToString(issuer.SubjectKeyId)
	serial := cert.SerialNumber.String()
	r.mu.RLock()
	c := r.crls[id]
	r.mu.RUnlock()
	switch {
	case c == nil || !bytes.Equal(c.issuer.Raw, issuer.Raw):
		return fault(issuance.RevocationUnknown, ErrNoCRL, "certificate serial %s issuer %s: no CRL held for the issuer", serial, id)
	case !now.Before(c.nextUpdate):
		return fault(issuance.RevocationUnknown, ErrCRLStale, "certificate serial %s issuer %s: CRL %s expired at %s",
			serial, id, c.number, c.nextUpdate.In(issuance.Tokyo).Format(time.RFC3339))
	}
	if reason, listed := c.revoked[cert.SerialNumber.Text(16)]; listed {
		if reason == ReasonCertificateHold {
			return suspended("certificate serial %s issuer %s is on hold on CRL %s", serial, id, c.number)
		}
		return fault(issuance.CertificateRevoked, ErrRevoked, "certificate serial %s issuer %s is on CRL %s", serial, id, c.number)
	}
	if r.cfg.OCSPURL != "" {
		return r.checkOCSP(ctx, cert, issuer, now)
	}
	return nil
}

func (r *Revocation) fetch(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	return readAllLimited(resp.Body, MaxCRLSize)
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAllLimited(f, limit)
}

func readAllLimited(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return data, nil
}
